import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { installFunctionsCore } from "../../../dev/host/functions-core.js";

const fixture = (name: string) => new URL(`../../fixtures/functions/${name}.js`, import.meta.url).href;

test("require('@azure/functions-core') resolves to the installed registry, once per process", () => {
  const registry = installFunctionsCore();
  assert.equal(installFunctionsCore(), registry);
  const core = createRequire(import.meta.url)("@azure/functions-core") as typeof registry.api;
  assert.equal(core, registry.api);
  assert.equal(typeof core.registerFunction, "function");
});

test("attributes app.http/app.timer registrations to the module whose import made them", async () => {
  const registry = installFunctionsCore();
  const loaded = await registry.load([fixture("echo"), fixture("timer")]);
  const echo = loaded.functions.find((f) => f.name === "echo");
  assert.ok(echo);
  assert.equal(echo.module, fixture("echo"));
  assert.equal(echo.triggerType, "httpTrigger");
  assert.equal(echo.trigger.route, "items/{id}/echo/{name?}");
  assert.deepEqual(echo.trigger.methods, ["GET", "POST", "PUT"]);
  assert.equal(echo.options.return?.type, "http");
  const tick = loaded.functions.find((f) => f.name === "tick");
  assert.equal(tick?.trigger.schedule, "%TICK_SCHEDULE%");
  assert.deepEqual(loaded.withoutFunctions, []);

  // A second load of the same module (already evaluated) still yields its functions.
  const again = await registry.load([fixture("timer")]);
  assert.deepEqual(
    again.functions.map((f) => f.name),
    ["tick"],
  );
});

test("refuses registrations after start-up, like the worker", async () => {
  installFunctionsCore();
  const { app } = await import("@azure/functions");
  assert.throws(() => app.get("late", { handler: async () => ({}) }), /only be registered during app startup/);
});

test("rejects unknown hook names with a RangeError, which @azure/functions relies on", () => {
  const registry = installFunctionsCore();
  assert.throws(() => registry.api.registerHook("nope", () => {}), RangeError);
});

test("keeps hooks registered outside a module import for every host and drops disposed ones", async () => {
  const registry = installFunctionsCore();
  const loaded = await registry.load([fixture("echo")]);
  const before = loaded.hookVersion();
  const disposable = registry.api.registerHook("preInvocation", () => {});
  assert.notEqual(loaded.hookVersion(), before);
  assert.equal(loaded.hooks().filter((h) => h.name === "preInvocation").length, 1);
  disposable.dispose();
  assert.equal(loaded.hooks().filter((h) => h.name === "preInvocation").length, 0);
});
