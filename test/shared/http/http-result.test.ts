import { test } from "node:test";
import assert from "node:assert/strict";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { ConflictError } from "../../../shared/errors/conflict-error.js";
import { ERROR_STATUS } from "../../../shared/errors/codes.js";
import { problemResult } from "../../../shared/http/http-result.js";

test("every error code maps to its documented status as problem+json", () => {
  for (const [code, status] of Object.entries(ERROR_STATUS)) {
    const result = problemResult(new BrokerError(code as keyof typeof ERROR_STATUS, "detail text"));
    assert.equal(result.status, status);
    assert.match(result.headers["content-type"]!, /^application\/problem\+json/);
    assert.equal(result.headers["cache-control"], "no-store");
    const body = JSON.parse(result.body);
    assert.deepEqual(Object.keys(body), ["type", "title", "status", "code", "detail"]);
    assert.equal(body.code, code);
    assert.equal(body.status, status);
  }
});

test("401 carries the RFC 6750 challenge and 503 a Retry-After", () => {
  const unauth = problemResult(new BrokerError("caller_unauthenticated", "token expired"));
  assert.match(unauth.headers["www-authenticate"]!, /^Bearer .*error="invalid_token"/);
  const down = problemResult(new BrokerError("upstream_unavailable", "down", { retryAfterSec: 17 }));
  assert.equal(down.headers["retry-after"], "17");
  const secret = problemResult(new BrokerError("secret_unavailable", "vault down"));
  assert.equal(secret.headers["retry-after"], "5");
});

test("an unexpected error becomes a 500 without its message", () => {
  const result = problemResult(new Error("CANARY-leaky-message"));
  assert.equal(result.status, 500);
  assert.doesNotMatch(result.body, /CANARY/);
});

test("Retry-After is always a whole, non-negative number of seconds within a day", () => {
  const sent = (retryAfterSec: number | undefined) =>
    problemResult(new BrokerError("upstream_unavailable", "detail", { retryAfterSec })).headers["retry-after"];
  assert.equal(sent(1e23), "86400");
  assert.equal(sent(2.2), "3");
  assert.equal(sent(-4), "0");
  assert.equal(sent(Number.NaN), "5");
  assert.equal(sent(undefined), "5");
});

test("a conflict's problem carries its reason as an extension member; no other problem has one", () => {
  const conflict = problemResult(new ConflictError("rotation_running", "A rotation of \"p\" is already running."));
  assert.equal(conflict.status, 409);
  assert.deepEqual(JSON.parse(conflict.body), {
    type: "urn:token-broker:error:conflict",
    title: "Conflict",
    status: 409,
    code: "conflict",
    detail: 'A rotation of "p" is already running.',
    reason: "rotation_running",
  });
  for (const error of [new BrokerError("conflict", "x"), new BrokerError("bad_request", "x"), new Error("x")]) {
    assert.equal("reason" in JSON.parse(problemResult(error).body), false);
  }
});
