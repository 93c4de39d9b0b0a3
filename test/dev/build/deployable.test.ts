import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import globby from "globby";
import ignore from "ignore";
import type { ImportProbeResult } from "../../../bench/import-probe.js";
import { functionEntries } from "../../../dev/build/bundle.js";
import { buildDeployable, type Deployable } from "../../../dev/build/deployable.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..", "..", "..");
const PROBE = resolve(HERE, "..", "..", "..", "bench", "import-probe.js");
const CANARY = "CANARY-deployable-7f3e9b21c4";

/** Modules the bundle may leave to the runtime: Node's own and the one the worker injects. */
const RUNTIME_PROVIDED = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`), "@azure/functions-core"]);
/** Packages that must load only on first use or when configured, never while the worker imports the app. */
const LOADED_ON_DEMAND = ["@azure/identity", "@azure/msal-node", "@azure/msal-common", "@azure/keyvault-secrets", "@azure/core-rest-pipeline", "redis", "@redis/client"];

/**
 * The deployable package, built the way `npm run build` builds it for azd, from a copy of the
 * project where every place a secret or stale file could come from holds a canary.
 */
describe("the deployable package (dist/package)", () => {
  let root: string;
  let pkg: Deployable;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "broker-package-"));
    for (const entry of ["functions", "shared", "host.json", "package.json", ".funcignore", "tsconfig.json"]) {
      cpSync(join(REPO, entry), join(root, entry), { recursive: true });
    }
    symlinkSync(join(REPO, "node_modules"), join(root, "node_modules"), "dir");
    const plant = (rel: string, text: string) => {
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), text);
    };
    // Local app settings and the local secret store: real secrets on a developer's machine.
    plant("local.settings.json", JSON.stringify({ IsEncrypted: false, Values: { PARTNER_SECRET: CANARY } }));
    plant(".local/demo/secrets/flowe-client-secret.json", JSON.stringify({ value: CANARY }));
    // Development code, tests and benchmarks, compiled output and its source maps.
    plant("dev/canary.ts", `export const secret = "${CANARY}";\n`);
    plant("test/canary.test.ts", `export const secret = "${CANARY}";\n`);
    plant("bench/canary.ts", `export const secret = "${CANARY}";\n`);
    plant("dist/shared/compose.js.map", JSON.stringify({ version: 3, sourcesContent: [CANARY] }));
    plant("dist/functions/runtime.js", `export const secret = "${CANARY}";\n`);
    // Left over from an earlier build: a function entry and a chunk that no longer exist.
    plant("dist/app/functions/removed-function.js", `export const secret = "${CANARY}";\n`);
    plant("dist/app/chunks/chunk-OLD.js.map", JSON.stringify({ sourcesContent: [CANARY] }));
    plant("dist/package/stale.txt", CANARY);
    pkg = await buildDeployable(root);
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  it("is dist/package with host.json as written and a package.json reduced to what runs", () => {
    assert.equal(pkg.dir, join(root, "dist", "package"));
    assert.deepEqual(readFileSync(join(pkg.dir, "host.json"), "utf8"), readFileSync(join(root, "host.json"), "utf8"));
    const shipped = JSON.parse(readFileSync(join(pkg.dir, "package.json"), "utf8")) as Record<string, unknown>;
    const source = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<string, unknown>;
    assert.equal(shipped.type, "module");
    assert.equal(shipped.main, source.main);
    for (const field of ["dependencies", "devDependencies", "scripts"]) assert.equal(shipped[field], undefined, field);
  });

  it("has a main glob that matches exactly the bundled function entries, one per function file", async () => {
    const { main } = JSON.parse(readFileSync(join(pkg.dir, "package.json"), "utf8")) as { main: string };
    const matched = (await globby(main, { cwd: pkg.dir })).sort();
    const expected = functionEntries(root).map((f) => `dist/app/functions/${basename(f, ".ts")}.js`);
    assert.ok(expected.length >= 6, "every function file of functions/ is an entry");
    assert.deepEqual(matched, expected);
    assert.ok(!expected.some((f) => /\/(runtime|system)\.js$/.test(f)), "modules that register nothing are not entries");
  });

  it("registers every function when the worker imports the main glob, without touching a configured vault", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [PROBE, pkg.dir], {
      env: {
        ...process.env,
        BROKER_CONFIG: join(REPO, "dev", "demo", "broker.config.json"),
        // Never contacted while importing: the Key Vault store is created on the first secret read.
        KEY_VAULT_URL: "https://127.0.0.1:9/",
        ALLOW_IN_PROCESS_ROTATION_LOCK: "true",
        REDIS_URL: "",
      },
    });
    const probe = JSON.parse(stdout.split("\n").find((l) => l.includes('"event":"import_probe"'))!) as ImportProbeResult;
    assert.deepEqual(probe.withoutFunctions, []);
    // One function per file (house style), each named after its file.
    assert.deepEqual([...probe.names].sort(), functionEntries(root).map((f) => basename(f, ".ts")).sort());
  });

  it("holds nothing from the sources, dev/, test/, bench/, local settings, node_modules or source maps", () => {
    assert.ok(pkg.files.length > 0);
    for (const file of pkg.files) {
      assert.match(file, /^(host\.json|package\.json|dist\/app\/(functions|chunks)\/[\w.-]+\.js|config\/[\w.-]+\.json)$/, file);
    }
    assert.ok(!existsSync(join(pkg.dir, "node_modules")));
    assert.ok(!existsSync(join(pkg.dir, "local.settings.json")));
  });

  it("leaves no stale file of an earlier build and no canary anywhere", () => {
    assert.ok(!existsSync(join(pkg.dir, "stale.txt")));
    assert.ok(!pkg.files.some((f) => f.includes("removed-function") || f.endsWith(".map")));
    for (const file of pkg.files) {
      assert.ok(!readFileSync(join(pkg.dir, file), "utf8").includes(CANARY), `${file} holds the canary`);
    }
  });

  it("imports only Node's modules and @azure/functions-core from outside, and loads the Azure SDKs and Redis only on demand", () => {
    const outputs = pkg.metafile.outputs;
    for (const [file, out] of Object.entries(outputs)) {
      for (const imp of out.imports) {
        if (imp.external) assert.ok(RUNTIME_PROVIDED.has(imp.path) || isGuardedOptional(imp.path), `${file} imports ${imp.path} from outside the bundle`);
      }
    }
    // What the worker's import of the entries evaluates: the entries and their static imports, transitively.
    const loaded = new Set<string>();
    const visit = (file: string) => {
      if (loaded.has(file)) return;
      loaded.add(file);
      for (const imp of outputs[file]?.imports ?? []) if (!imp.external && imp.kind === "import-statement") visit(imp.path);
    };
    // (esbuild marks the chunks of `import()` targets as entry points too: only functions/ are the worker's.)
    const entries = Object.keys(outputs).filter((file) => /\/functions\/[^/]+\.js$/.test(file));
    assert.equal(entries.length, functionEntries(root).length);
    entries.forEach(visit);
    const inputsAtLoad = [...loaded].flatMap((file) => Object.keys(outputs[file]?.inputs ?? {}));
    for (const name of LOADED_ON_DEMAND) {
      const marker = `node_modules/${name}/`;
      assert.ok(!inputsAtLoad.some((input) => input.includes(marker)), `${name} is loaded while the app is imported`);
      assert.ok(
        Object.values(outputs).some((out) => Object.keys(out.inputs).some((input) => input.includes(marker))),
        `${name} is in the bundle (in a chunk loaded on demand)`,
      );
    }
  });
});

/**
 * Optional peers the Redis client loads inside try/catch, only for features the broker does not
 * use (its `digest` helper, its own OpenTelemetry metrics): absent from the package, never needed.
 */
const GUARDED_OPTIONAL = new Set(["@node-rs/xxhash", "@opentelemetry/api"]);
function isGuardedOptional(path: string): boolean {
  return GUARDED_OPTIONAL.has(path);
}

describe("the build choice azd makes", () => {
  it("is a local build of dist/package: azure.yaml says so and .funcignore does not contradict it", () => {
    const azureYaml = readFileSync(join(REPO, "azure.yaml"), "utf8");
    assert.match(azureYaml, /^\s+dist: dist\/package$/m);
    assert.match(azureYaml, /^\s+remoteBuild: false$/m);
    // azd refuses `remoteBuild: false` when the project's .funcignore excludes node_modules.
    const funcignore = ignore().add(readFileSync(join(REPO, ".funcignore"), "utf8"));
    assert.equal(funcignore.ignores("node_modules/"), false);
    assert.equal(funcignore.ignores("dist/app/functions/token.js"), false);
    assert.equal(funcignore.ignores("local.settings.json"), true);
  });
});
