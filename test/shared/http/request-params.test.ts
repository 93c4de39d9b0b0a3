import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFlag, parseMinTtl, parseRejectionBody } from "../../../shared/http/request-params.js";

test("min_ttl defaults when absent and parses whole seconds", () => {
  assert.equal(parseMinTtl(null, 30), 30);
  assert.equal(parseMinTtl("0", 30), 0);
  assert.equal(parseMinTtl("600", 30), 600);
});

test("a malformed min_ttl is a bad_request", () => {
  for (const raw of ["", "abc", "-1", "1.5", "1e3", " 5", "0x10", "9999999", "86401"]) {
    assert.throws(() => parseMinTtl(raw, 30), (e: any) => e.code === "bad_request" && e.status === 400, raw);
  }
});

test("flags accept only true/false/1/0", () => {
  assert.equal(parseFlag(undefined, "dry_run"), false);
  assert.equal(parseFlag("true", "dry_run"), true);
  assert.equal(parseFlag("0", "dry_run"), false);
  assert.throws(() => parseFlag("yes", "dry_run"), /dry_run must be true or false/);
});

test("a rejection report body is {fingerprint: sha256:<12 hex>} and nothing else", () => {
  assert.deepEqual(parseRejectionBody('{"fingerprint":"sha256:0123456789ab"}'), { fingerprint: "sha256:0123456789ab" });
  for (const bad of [undefined, "", "null", "[]", '{"fingerprint":"sha256:0123456789AB"}', '{"fingerprint":"0123456789ab"}', '{"fingerprint":"sha256:0123456789ab","more":1}', "x".repeat(2000)]) {
    assert.throws(() => parseRejectionBody(bad), (e: any) => e.code === "bad_request", String(bad).slice(0, 30));
  }
});
