import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { failureForStatus, parseRetryAfter, UpstreamFailure } from "../../../shared/upstream/upstream-failure.js";

const now = Date.UTC(2026, 10, 23, 12, 0, 0);

describe("parseRetryAfter", () => {
  it("reads delta-seconds", () => {
    assert.equal(parseRetryAfter("2", now), 2);
    assert.equal(parseRetryAfter(" 120 ", now), 120);
    assert.equal(parseRetryAfter("0", now), 0);
  });

  it("reads an HTTP-date as seconds from now, rounded up", () => {
    assert.equal(parseRetryAfter(new Date(now + 30_000).toUTCString(), now), 30);
    assert.equal(parseRetryAfter(new Date(now + 1_000).toUTCString(), now - 500), 2);
  });

  it("treats an HTTP-date in the past as retry now", () => {
    assert.equal(parseRetryAfter(new Date(now - 60_000).toUTCString(), now), 0);
  });

  it("ignores missing and malformed values", () => {
    for (const bad of [null, undefined, "", "  ", "soon", "1.5", "-3", "2 seconds"]) {
      assert.equal(parseRetryAfter(bad, now), undefined, String(bad));
    }
  });
});

describe("failureForStatus", () => {
  it("classifies 429 and 5xx as transient and keeps Retry-After", () => {
    for (const status of [429, 500, 502, 503, 504]) {
      const failure = failureForStatus(status, 7);
      assert.equal(failure.kind, "transient");
      assert.equal(failure.options.retryAfterSec, 7);
      assert.equal(failure.options.status, status);
    }
  });

  it("classifies 400, 401 and 403 as rejected, never retried", () => {
    for (const status of [400, 401, 403]) assert.equal(failureForStatus(status, 5).kind, "rejected");
  });

  it("summarises with the status and the OAuth error code only", () => {
    assert.equal(failureForStatus(401, undefined, "invalid_client").summary, "HTTP 401 (invalid_client)");
    assert.equal(failureForStatus(503, undefined).summary, "HTTP 503");
  });

  it("is an Error whose message is the safe summary", () => {
    const failure = new UpstreamFailure("invalid", "HTTP 200 (response is not JSON)", { cause: new Error("x") });
    assert.ok(failure instanceof Error);
    assert.equal(failure.message, "HTTP 200 (response is not JSON)");
    assert.equal(failure.name, "UpstreamFailure");
  });
});
