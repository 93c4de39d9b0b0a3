import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { validateFunctions } from "../../dev/host/function-validation.js";
import { startLocalHost } from "../../dev/host/local-host.js";
import { functionModules } from "../../dev/host/serve-functions.js";

/**
 * The broker's own function files through the local host's start-up checks: the worker's
 * indexing rules and the Functions host's validation. (runtime.js composes from this process's
 * environment, once: a bad configuration is tested in bad-config.test.ts, its own process.)
 */
const dir = mkdtempSync(join(tmpdir(), "registration-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the broker's functions pass the Functions host's validation and register with their routes", async () => {
  const config = JSON.parse(readFileSync("dev/demo/broker.config.json", "utf8"));
  config.secrets.localDir = join(dir, "secrets");
  process.env.BROKER_CONFIG = join(dir, "broker.config.json");
  writeFileSync(process.env.BROKER_CONFIG, JSON.stringify(config));
  for (const name of ["KEY_VAULT_URL", "REDIS_URL", "MAINTENANCE_SCHEDULE"]) delete process.env[name];

  const host = await startLocalHost({ modules: await functionModules(), enableTimers: false, log: () => {} });
  try {
    validateFunctions(host.functions, "api");
    const shape = host.functions.map((f) => [f.name, f.trigger.route ?? f.trigger.schedule, f.trigger.methods ?? null]);
    assert.deepEqual(shape.sort(), [
      ["health", "health", ["GET"]],
      ["jwks", "jwks", ["GET"]],
      ["maintenance", "0 */5 * * * *", null],
      ["ops-refresh", "ops/providers/{provider}/refresh", ["POST"]],
      ["ops-rotate", "ops/providers/{provider}/rotate", ["POST"]],
      ["ops-status", "ops/status", ["GET"]],
      ["token", "token/{provider}", ["GET"]],
      ["token-rejected", "token/{provider}/rejected", ["POST"]],
    ]);
    const res = await fetch(`${host.url}/api/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
  } finally {
    await host.close();
  }
});

test("every function file registers first and awaits the composed broker last", () => {
  const files = readdirSync("functions").filter((f) => f.endsWith(".ts"));
  const registering = files.filter((f) => /^app\.(http|timer)\(/m.test(readFileSync(join("functions", f), "utf8")));
  assert.ok(registering.length >= 8, `found ${registering.length} function files`);
  for (const file of registering) {
    const source = readFileSync(join("functions", file), "utf8");
    const statements = source.split("\n").filter((line) => line.trim() !== "" && !line.trim().startsWith("//"));
    assert.equal(statements.at(-1), "await ready;", `${file} ends with await ready`);
    assert.ok(source.lastIndexOf("app.") < source.lastIndexOf("await ready;"), `${file} registers before it awaits`);
  }
});
