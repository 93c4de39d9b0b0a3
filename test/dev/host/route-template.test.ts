import assert from "node:assert/strict";
import { test } from "node:test";
import { compareRoutes, RouteTemplate } from "../../../dev/host/route-template.js";

test("matches literal segments case-insensitively and captures parameters as sent", () => {
  const t = new RouteTemplate("admin/providers/{provider}/refresh");
  assert.deepEqual(t.match(["Admin", "PROVIDERS", "Flowe", "refresh"]), { provider: "Flowe" });
  assert.equal(t.match(["admin", "providers", "flowe"]), undefined);
  assert.equal(t.match(["admin", "providers", "flowe", "refresh", "extra"]), undefined);
  assert.equal(t.match(["admin", "providers", "", "refresh"]), undefined);
});

test("lets an optional trailing parameter be absent", () => {
  const optional = new RouteTemplate("items/{id}/{name?}");
  assert.deepEqual(optional.match(["items", "1"]), { id: "1" });
  assert.deepEqual(optional.match(["items", "1", "x"]), { id: "1", name: "x" });
  assert.equal(new RouteTemplate("items/{id}").match(["items"]), undefined);
});

test("orders literal segments before parameters, and required parameters before optional ones", () => {
  const routes = ["admin/{name?}", "admin/{name}", "admin/status", "admin"].map((r) => new RouteTemplate(r));
  routes.sort(compareRoutes);
  assert.deepEqual(
    routes.map((r) => r.template),
    ["admin/status", "admin/{name}", "admin/{name?}", "admin"],
  );
});

test("rejects malformed templates at registration", () => {
  assert.throws(() => new RouteTemplate("a/{b"), /invalid route/);
  assert.throws(() => new RouteTemplate("a/{id}/{id}"), /twice/);
  assert.throws(() => new RouteTemplate("a//b"), /is empty/);
  assert.throws(() => new RouteTemplate("a/b}"), /unmatched/);
  assert.throws(() => new RouteTemplate("a/{b-c}"), /bad parameter name "b-c"/);
});

test("refuses, naming it, every template form ASP.NET accepts but the local host does not emulate", () => {
  const refused: [string, RegExp][] = [
    ["orders/{id:int}", /segment "\{id:int\}" has a constraint \(":int"\)/],
    ["a/{id:regex(x)}", /has a constraint \(":regex\(x\)"\)/],
    ["g/{id:guid?}", /has a constraint \(":guid"\)/],
    ["page/{n=1}", /segment "\{n=1\}" has a default value/],
    ["files/{*path}", /segment "\{\*path\}" is a catch-all parameter/],
    ["files/{**path}", /is a catch-all parameter/],
    ["download/{name}.{ext}", /segment "\{name\}.\{ext\}" is a complex segment/],
    ["v{version}/x", /is a complex segment/],
    ["items/{name?}/x", /is an optional parameter before the last segment/],
  ];
  for (const [template, message] of refused) {
    assert.throws(() => new RouteTemplate(template), (e: Error) => message.test(e.message) && e.message.includes("the local host emulates"), template);
  }
});
