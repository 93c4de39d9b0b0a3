import assert from "node:assert/strict";
import { test } from "node:test";
import { parseJsonOrUndefined } from "../../../shared/json/parse-json.js";

test("parseJsonOrUndefined answers the parsed value, and undefined for anything that is not JSON", () => {
  assert.deepEqual(parseJsonOrUndefined('{"a":[1,null]}'), { a: [1, null] });
  assert.equal(parseJsonOrUndefined("null"), null);
  assert.equal(parseJsonOrUndefined("0"), 0);
  for (const text of ["", "{", "undefined", "{'a':1}", "CANARY-not-json"]) assert.equal(parseJsonOrUndefined(text), undefined, text);
});
