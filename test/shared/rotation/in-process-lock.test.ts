import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InProcessLock } from "../../../shared/rotation/in-process-lock.js";
import { ManualClock } from "../../support/manual-clock.js";

describe("InProcessLock", () => {
  test("grants one holder per name at a time and frees the name on release", async () => {
    const lock = new InProcessLock(new ManualClock());
    const first = await lock.tryAcquire("rotation:a", 1000);
    assert.ok(first);
    assert.equal(await lock.tryAcquire("rotation:a", 1000), undefined);
    assert.ok(await lock.tryAcquire("rotation:b", 1000), "other names are independent");
    assert.equal(await first.stillHeld(), true);
    await first.release();
    assert.equal(await first.stillHeld(), false);
    assert.ok(await lock.tryAcquire("rotation:a", 1000));
  });

  test("an expired lease is taken over with a larger fencing token; the stalled holder learns it and cannot release the new one", async () => {
    const clock = new ManualClock();
    const lock = new InProcessLock(clock);
    const stalled = (await lock.tryAcquire("rotation:a", 1000))!;
    clock.advance(999);
    assert.equal(await stalled.stillHeld(), true);
    assert.equal(await lock.tryAcquire("rotation:a", 1000), undefined);
    clock.advance(1);
    assert.equal(await stalled.stillHeld(), false, "expired at its TTL");
    const successor = (await lock.tryAcquire("rotation:a", 1000))!;
    assert.ok(successor.fencingToken > stalled.fencingToken);
    await stalled.release();
    assert.equal(await successor.stillHeld(), true);
    assert.equal(await lock.tryAcquire("rotation:a", 1000), undefined);
  });
});
