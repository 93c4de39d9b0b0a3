import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFlag, parseMinTtl } from "../../../shared/http/request-params.js";

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
