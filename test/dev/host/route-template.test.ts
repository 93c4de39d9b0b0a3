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

test("lets optional and defaulted trailing parameters be absent", () => {
  const optional = new RouteTemplate("items/{id}/{name?}");
  assert.deepEqual(optional.match(["items", "1"]), { id: "1" });
  assert.deepEqual(optional.match(["items", "1", "x"]), { id: "1", name: "x" });
  const defaulted = new RouteTemplate("page/{n=1}");
  assert.deepEqual(defaulted.match(["page"]), { n: "1" });
  assert.deepEqual(defaulted.match(["page", "3"]), { n: "3" });
  assert.equal(new RouteTemplate("items/{id}").match(["items"]), undefined);
});

test("applies constraints", () => {
  const t = new RouteTemplate("orders/{id:int}/{code:alpha:length(3)}");
  assert.deepEqual(t.match(["orders", "42", "abc"]), { id: "42", code: "abc" });
  assert.equal(t.match(["orders", "4x", "abc"]), undefined);
  assert.equal(t.match(["orders", "42", "abcd"]), undefined);
  assert.deepEqual(new RouteTemplate("g/{id:guid}").match(["g", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"]), {
    id: "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
  });
});

test("captures the rest of the path in a catch-all parameter", () => {
  const t = new RouteTemplate("files/{*path}");
  assert.deepEqual(t.match(["files", "a", "b.txt"]), { path: "a/b.txt" });
  assert.deepEqual(t.match(["files"]), {});
});

test("splits complex segments at literal separators", () => {
  const t = new RouteTemplate("download/{name}.{ext}");
  assert.deepEqual(t.match(["download", "report.final.pdf"]), { name: "report.final", ext: "pdf" });
  assert.equal(t.match(["download", "report"]), undefined);
});

test("orders literal segments before parameters and catch-alls", () => {
  const routes = ["admin/{name}", "{*all}", "admin/status", "admin/{id:int}"].map((r) => new RouteTemplate(r));
  routes.sort(compareRoutes);
  assert.deepEqual(
    routes.map((r) => r.template),
    ["admin/status", "admin/{id:int}", "admin/{name}", "{*all}"],
  );
});

test("rejects malformed templates at registration", () => {
  assert.throws(() => new RouteTemplate("a/{b"), /invalid route/);
  assert.throws(() => new RouteTemplate("a/{*rest}/b"), /catch-all but not the last/);
  assert.throws(() => new RouteTemplate("a/{id}/{id}"), /twice/);
  assert.throws(() => new RouteTemplate("a/{id:regex(x)}"), /unsupported constraint/);
  assert.throws(() => new RouteTemplate("a//b"), /is empty/);
});
