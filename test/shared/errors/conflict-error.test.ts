import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrokerError, isBrokerError, toBrokerError } from "../../../shared/errors/broker-error.js";
import { ConflictError, isConflict } from "../../../shared/errors/conflict-error.js";
import { errorFields } from "../../../shared/log/logger.js";
import { errorType } from "../../../shared/telemetry/telemetry.js";

describe("ConflictError", () => {
  test("is an answered BrokerError with code conflict (409), its reason, detail and cause", () => {
    const cause = new Error("underlying");
    const error = new ConflictError("rotation_running", "A rotation is already running.", { cause });
    assert.ok(error instanceof BrokerError);
    assert.equal(isBrokerError(error), true);
    assert.equal(toBrokerError(error), error);
    assert.equal(error.code, "conflict");
    assert.equal(error.status, 409);
    assert.equal(error.reason, "rotation_running");
    assert.equal(error.detail, "A rotation is already running.");
    assert.equal(error.cause, cause);
  });

  test("is logged and typed in telemetry like any conflict", () => {
    const error = new ConflictError("lease_lost", "lost");
    assert.deepEqual(errorFields(error), errorFields(new BrokerError("conflict", "lost")));
    assert.equal(errorType(error), "conflict");
  });

  test("isConflict tells the conflicts apart by reason only", () => {
    const error = new ConflictError("key_limit_reached", "full");
    assert.equal(isConflict(error, "key_limit_reached"), true);
    assert.equal(isConflict(error, "lease_lost"), false);
    assert.equal(isConflict(new BrokerError("conflict", "full"), "key_limit_reached"), false);
    assert.equal(isConflict(new Error("key_limit_reached"), "key_limit_reached"), false);
    assert.equal(isConflict(undefined, "key_limit_reached"), false);
  });
});
