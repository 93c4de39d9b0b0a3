import assert from "node:assert/strict";
import { BrokerError } from "../../shared/errors/broker-error.js";

/** Awaits a rejection and checks it is a BrokerError with the given stable code. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<BrokerError> {
  const error = await promise.then(
    () => assert.fail("expected a rejection"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof BrokerError, `expected a BrokerError, got ${String(error)}`);
  assert.equal(error.code, code);
  return error;
}

/**
 * Waits, turn by turn of the event loop, until `condition` holds: for a test that must act (move
 * its manual clock) once a request has reached a fake. Not a timing assertion: the bound only
 * turns a condition that never comes into a clear failure instead of a hung test.
 */
export async function until(condition: () => boolean, what: string, maxTurns = 100_000): Promise<void> {
  for (let turn = 0; !condition(); turn++) {
    if (turn >= maxTurns) assert.fail(`never happened: ${what}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
