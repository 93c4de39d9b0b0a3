import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { basicCandidates, parseBasic, parseBearer, safeEqual, singleHeader } from "../../../dev/sandbox/credentials.js";

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("sandbox credential parsing", () => {
  it("splits Basic credentials at the first colon, so a secret may contain colons", () => {
    assert.deepEqual(parseBasic(basic("apk-1", "a:b:c")), { user: "apk-1", password: "a:b:c" });
    assert.deepEqual(parseBasic(`basic ${Buffer.from("k:").toString("base64")}`), { user: "k", password: "" });
  });

  it("refuses Basic values that are not base64 of user:password", () => {
    assert.equal(parseBasic(undefined), undefined);
    assert.equal(parseBasic("Basic"), undefined);
    assert.equal(parseBasic("Basic !!!"), undefined);
    assert.equal(parseBasic(`Basic ${Buffer.from("no-colon").toString("base64")}`), undefined);
    assert.equal(parseBasic(`Bearer ${Buffer.from("a:b").toString("base64")}`), undefined);
  });

  it("offers the RFC 6749 form-decoded reading next to the literal one only when they differ", () => {
    assert.deepEqual(basicCandidates({ user: "key", password: "secret" }), [{ user: "key", password: "secret" }]);
    assert.deepEqual(basicCandidates({ user: "key", password: "p%40ss+w" }), [
      { user: "key", password: "p%40ss+w" },
      { user: "key", password: "p@ss w" },
    ]);
    assert.deepEqual(basicCandidates({ user: "key", password: "100%" }), [{ user: "key", password: "100%" }]);
  });

  it("reads a bearer token only with the Bearer scheme", () => {
    assert.equal(parseBearer("Bearer abc.def.ghi"), "abc.def.ghi");
    assert.equal(parseBearer("bearer abc"), "abc");
    assert.equal(parseBearer("abc.def.ghi"), undefined);
    assert.equal(parseBearer("Bearer "), undefined);
    assert.equal(parseBearer("Bearer a b"), undefined);
  });

  it("treats repeated headers as absent and compares strings exactly", () => {
    assert.equal(singleHeader(["a", "b"]), undefined);
    assert.equal(singleHeader("a"), "a");
    assert.equal(safeEqual("same", "same"), true);
    assert.equal(safeEqual("same", "Same"), false);
    assert.equal(safeEqual("same", "same-but-longer"), false);
  });
});
