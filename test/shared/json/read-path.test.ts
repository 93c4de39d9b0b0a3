import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readPath } from "../../../shared/json/read-path.js";

describe("readPath", () => {
  it("follows own properties only", () => {
    assert.equal(readPath({ a: { b: "x" } }, "a.b"), "x");
    assert.equal(readPath({ a: { b: "x" } }, "a.c"), undefined);
    assert.equal(readPath({ a: "x" }, "a.length"), undefined);
    assert.equal(readPath({}, "constructor"), undefined);
    assert.equal(readPath({}, "__proto__"), undefined);
    assert.equal(readPath(null, "a"), undefined);
  });

  it("never walks into a prototype, at any depth", () => {
    assert.equal(readPath({}, "constructor.name"), undefined);
    assert.equal(readPath({ a: {} }, "a.constructor.prototype"), undefined);
    assert.equal(readPath({ a: {} }, "a.__proto__.hasOwnProperty"), undefined);
    assert.equal(readPath({ items: [] }, "items.constructor.name"), undefined);
    assert.equal(readPath(Object.create({ inherited: "x" }), "inherited"), undefined);
  });

  it("reads a key named like a prototype member when the answer really has it", () => {
    assert.equal(readPath(JSON.parse('{"__proto__": {"token": "t"}}'), "__proto__.token"), "t");
    assert.equal(readPath({ constructor: "own" }, "constructor"), "own");
  });
});
