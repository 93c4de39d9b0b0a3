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
