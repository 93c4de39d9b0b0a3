import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SingleFlight } from "../../shared/single-flight.js";

/** A call that settles when told to, counting how often it was started. */
function gated() {
  let calls = 0;
  const releases: ((value: string) => void)[] = [];
  const call = () => {
    calls++;
    return new Promise<string>((resolve) => releases.push(resolve));
  };
  return { call, calls: () => calls, release: (i: number, value: string) => releases[i]!(value) };
}

describe("SingleFlight", () => {
  test("forget lets the next caller start a new flight while the forgotten one settles for its holders", async () => {
    const flights = new SingleFlight<string>();
    const { call, calls, release } = gated();
    const first = flights.join("k", call, undefined);
    assert.equal(flights.join("k", call, undefined), first);

    flights.forget("k");
    assert.equal(flights.has("k"), false);
    const second = flights.join("k", call, undefined);
    assert.notEqual(second, first);
    assert.equal(calls(), 2);

    release(0, "old");
    assert.equal(await first, "old");
    assert.equal(flights.current("k")?.promise, second, "the forgotten flight settling leaves the newer one in place");
    release(1, "new");
    assert.equal(await second, "new");
    assert.equal(flights.has("k"), false);
  });

  test("clear forgets every running flight", async () => {
    const flights = new SingleFlight<string>();
    const { call, calls, release } = gated();
    const a = flights.join("a", call, undefined);
    const b = flights.join("b", call, undefined);
    flights.clear();
    assert.equal(flights.has("a") || flights.has("b"), false);
    flights.join("a", call, undefined);
    assert.equal(calls(), 3);
    release(0, "a");
    release(1, "b");
    assert.deepEqual(await Promise.all([a, b]), ["a", "b"]);
    assert.equal(flights.has("a"), true, "a's new flight is still running");
  });
});
