import assert from "node:assert/strict";
import { test } from "node:test";
import { RouteTable } from "../../../dev/host/route-table.js";

function table(prefix = "api"): RouteTable<string> {
  const t = new RouteTable<string>(prefix);
  t.add("token/{provider}", ["GET"], "token");
  t.add("admin/providers/{provider}/refresh", ["POST"], "refresh");
  t.add("admin/status", ["GET"], "status");
  t.add("admin/{page}", ["GET"], "page");
  t.add("things/{id}", ["PUT"], "put-thing");
  t.add("things/{id}", ["DELETE"], "delete-thing");
  t.add("anything", undefined, "anything");
  return t;
}

test("finds the function and its parameters under the route prefix, case-insensitively", () => {
  assert.deepEqual(table().lookup("GET", "/API/Token/flowe"), { kind: "found", target: "token", params: { provider: "flowe" } });
  assert.deepEqual(table().lookup("POST", "/api/admin/providers/x/refresh/"), {
    kind: "found",
    target: "refresh",
    params: { provider: "x" },
  });
});

test("prefers the literal route over a parameter in the same position", () => {
  const found = table().lookup("GET", "/api/admin/status");
  assert.equal(found.kind === "found" && found.target, "status");
});

test("percent-decodes parameters and reports undecodable paths", () => {
  const found = table().lookup("GET", "/api/token/a%20b%2Fc");
  assert.deepEqual(found.kind === "found" && found.params, { provider: "a b/c" });
  assert.deepEqual(table().lookup("GET", "/api/token/%E0%A4%A"), { kind: "bad-path" });
});

test("reports the allowed methods of every route matching the path", () => {
  const found = table().lookup("PATCH", "/api/things/1");
  assert.equal(found.kind, "method-not-allowed");
  assert.deepEqual(found.kind === "method-not-allowed" && found.allow.sort(), ["DELETE", "PUT"]);
  assert.equal((table().lookup("DELETE", "/api/things/1") as { target: string }).target, "delete-thing");
});

test("accepts any method for a route registered without methods", () => {
  assert.equal(table().lookup("OPTIONS", "/api/anything").kind, "found");
});

test("finds nothing outside the prefix or for unknown paths", () => {
  for (const path of ["/token/flowe", "/api", "/apix/token/a", "/api/token", "/api/nope", "*"]) {
    assert.deepEqual(table().lookup("GET", path), { kind: "not-found" }, path);
  }
});

test("serves routes at the root with an empty prefix", () => {
  assert.equal(table("").lookup("GET", "/token/flowe").kind, "found");
  assert.equal(table("/v1/api/").lookup("GET", "/v1/API/token/flowe").kind, "found");
});
