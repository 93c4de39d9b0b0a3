import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { installFunctionsCore } from "../../dev/host/functions-core.js";
import { startLocalHost } from "../../dev/host/local-host.js";
import { functionModules } from "../../dev/host/serve-functions.js";
import { WorkerIndexingError } from "../../dev/host/worker-indexing.js";

/**
 * A configuration with several bad fields, through the two ways the function files are loaded:
 * the local host (this process: runtime.js composes once, from this process's environment) and
 * the Node.js worker's indexing (a process of its own). Each must fail after the functions have
 * registered, naming every bad field and no value.
 */
const CANARY = "CANARY-bad-config-9d2f";
/** Where the unknown grant lands: after the demo caller's own grants. */
const GHOST_INDEX = JSON.parse(readFileSync("dev/demo/broker.config.json", "utf8")).callers["orders-service"].providers.length;
const BAD_FIELDS = [
  "providers.flowe.kind",
  "providers.ayyeka.clientAuth",
  "providers.phixflow.key.secret",
  "issuers.demo.audience",
  "secrets.cacheTtlSec",
  `callers.orders-service.providers.${GHOST_INDEX}`,
];

let dir: string;
let badConfig: string;
let goodConfig: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "bad-config-"));
  const demo = JSON.parse(readFileSync("dev/demo/broker.config.json", "utf8"));
  demo.secrets.localDir = join(dir, "secrets");
  goodConfig = join(dir, "good.json");
  writeFileSync(goodConfig, JSON.stringify(demo));
  const bad = structuredClone(demo);
  bad.providers.flowe.kind = "nope";
  bad.providers.ayyeka.clientAuth = CANARY;
  bad.providers.phixflow.key = { secret: `${CANARY} not/a secret name` };
  bad.issuers.demo.audience = 42;
  bad.secrets.cacheTtlSec = -1;
  bad.callers["orders-service"].providers.push("ghost");
  badConfig = join(dir, "bad.json");
  writeFileSync(badConfig, JSON.stringify(bad));
  process.env.BROKER_CONFIG = badConfig;
  for (const name of ["KEY_VAULT_URL", "REDIS_URL", "MAINTENANCE_SCHEDULE"]) delete process.env[name];
});

after(() => rmSync(dir, { recursive: true, force: true }));

function assertNamesEveryBadField(message: string): void {
  for (const field of BAD_FIELDS) assert.ok(message.includes(`\n  - ${field}: `), `names ${field}:\n${message}`);
  assert.ok(!message.includes(CANARY), "no field value");
}

describe("a bad configuration", () => {
  test("stops the local host after the first entry file registered, naming every bad field", async () => {
    const lines: string[] = [];
    await assert.rejects(startLocalHost({ modules: functionModules(), log: (l) => lines.push(l) }), (error: unknown) => {
      assert.ok(error instanceof WorkerIndexingError, String(error));
      assert.match(error.message, /^Worker failed to index functions: Worker was unable to load entry point "dist\/functions\/health\.js": /);
      assert.deepEqual(error.registered, ["health"]);
      assertNamesEveryBadField(error.message);
      return true;
    });
    assert.ok(!lines.some((l) => /listening/.test(l)));
  });

  test("fails the worker's indexing of package.json main after registration, naming every bad field", async () => {
    const outcome = await indexLikeWorker(badConfig);
    assert.deepEqual(outcome.registered, ["health"]);
    assert.ok(outcome.error?.startsWith('Worker failed to index functions: Worker was unable to load entry point "dist/functions/health.js": '), outcome.error ?? "");
    assertNamesEveryBadField(outcome.error ?? "");
  });

  test("health answers 503 problem+json without detail where a worker serves what registered anyway", async () => {
    // A worker that does not block on entry-file errors (Node < 20 with
    // FUNCTIONS_NODE_BLOCK_ON_ENTRY_POINT_ERROR=false) reports what registered before the error.
    const loaded = await installFunctionsCore().load(functionModules());
    const health = loaded.functions.find((f) => f.name === "health");
    assert.ok(health && loaded.failed);
    const result = (await health.handler()) as { status: number; headers: Record<string, string>; body: string };
    assert.equal(result.status, 503);
    assert.equal(result.headers["content-type"], "application/problem+json; charset=utf-8");
    const body = JSON.parse(result.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ["code", "detail", "status", "title", "type"]);
    assert.equal(body.code, "broker_unavailable");
    assert.equal(body.status, 503);
    for (const field of ["providers", "issuers", "secrets", "callers", CANARY]) assert.ok(!result.body.includes(field), field);
  });
});

test("a good configuration indexes every function through package.json main, runtime.js and system.js included", async () => {
  const outcome = await indexLikeWorker(goodConfig);
  assert.equal(outcome.error, null);
  assert.deepEqual(outcome.registered.sort(), ["health", "jwks", "maintenance", "ops-refresh", "ops-rotate", "ops-status", "token"]);
});

async function indexLikeWorker(config: string): Promise<{ registered: string[]; error: string | null }> {
  const { stdout } = await promisify(execFile)(process.execPath, ["dist/test/support/index-like-worker.js"], {
    env: { ...process.env, BROKER_CONFIG: config },
    timeout: 30_000,
  });
  // The broker's own log lines (flushed at exit) may follow.
  const line = stdout.split("\n").find((l) => l.startsWith('{"registered":')) ?? "";
  return JSON.parse(line) as { registered: string[]; error: string | null };
}
