import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * What a user gets: the tarball `npm pack` makes in client/, installed into an empty project
 * offline and used from a script, the bin and the TypeScript compiler.
 */
const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const CLIENT = join(ROOT, "client");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const NPM_QUIET = ["--no-audit", "--no-fund", "--loglevel=error"];

let work: string;
let tarball: string;
let packed: { size: number; unpackedSize: number; files: { path: string }[] };

before(async () => {
  work = mkdtempSync(join(tmpdir(), "client-pack-"));
  // --ignore-scripts: the root build has compiled client/dist already; offline like every step here.
  const { stdout } = await run(npm, ["pack", "--json", "--ignore-scripts", "--offline", "--pack-destination", work, CLIENT], { cwd: work });
  packed = JSON.parse(stdout)[0];
  tarball = join(work, (packed as unknown as { filename: string }).filename);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the @token-broker/client package", () => {
  test("the tarball holds the compiled modules, their types, package.json and README: no sources, maps or tests", () => {
    const files = packed.files.map((f) => f.path).sort();
    const modules = ["azure-credential", "broker-http", "caller-auth", "cli", "client", "credential", "errors", "index", "partner-request", "status-table"];
    const expected = ["README.md", "package.json", ...modules.flatMap((m) => [`dist/${m}.d.ts`, `dist/${m}.js`])].sort();
    assert.deepEqual(files, expected);
    const manifest = JSON.parse(readFileSync(join(CLIENT, "package.json"), "utf8"));
    assert.deepEqual(Object.keys(manifest.dependencies), ["@azure/core-auth"], "one runtime dependency");
    assert.equal(manifest.peerDependenciesMeta["@azure/identity"].optional, true);
    assert.equal(manifest.type, "module");
    assert.equal(manifest.bin["token-broker"], "./dist/cli.js");
    assert.ok(readFileSync(join(CLIENT, "dist", "cli.js"), "utf8").startsWith("#!/usr/bin/env node\n"), "the bin has a shebang");
    for (const path of files.filter((f) => f.endsWith(".js"))) {
      const source = readFileSync(join(CLIENT, path), "utf8");
      for (const match of source.matchAll(/from "([^"]+)"/g)) {
        const spec = match[1]!;
        assert.ok(spec.startsWith("./") || spec.startsWith("node:") || spec === "@azure/core-auth", `${path} imports ${spec}`);
      }
    }
    console.log(`# package size: ${packed.size} bytes packed, ${packed.unpackedSize} bytes unpacked, ${files.length} files`);
  });

  test("installed from the tarball into an empty project, offline, it is imported by a script, type-checks and runs its bin", { timeout: 120_000 }, async () => {
    const project = join(work, "app");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true, type: "module" }));
    // No registry: the runtime dependency and its own dependencies are packed from this
    // repository's node_modules and installed alongside the package's tarball.
    const deps = dependencyClosure("@azure/core-auth", CLIENT);
    const { stdout: depPack } = await run(npm, ["pack", "--json", "--ignore-scripts", "--offline", "--pack-destination", work, ...deps], { cwd: work });
    const depTarballs = (JSON.parse(depPack) as { filename: string }[]).map((p) => join(work, p.filename));
    await run(npm, ["install", "--offline", "--ignore-scripts", ...NPM_QUIET, tarball, ...depTarballs], { cwd: project });
    assert.ok(existsSync(join(project, "node_modules", "@token-broker", "client", "dist", "index.js")));

    // A script using the package as a service would, against a loopback broker.
    writeFileSync(
      join(project, "check.mjs"),
      `import { createServer } from "node:http";
import { TokenBrokerClient, TokenBrokerError } from "@token-broker/client";
const server = createServer((req, res) => {
  if (req.url.startsWith("/api/token/demo?")) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ provider: "demo", token_type: "Bearer", access_token: "t", scope: "api://demo/.default", expires_in: 3600,
      expires_at: new Date(Date.now() + 3600e3).toISOString(), headers: { Authorization: "Bearer t" }, fingerprint: "sha256:0123456789ab" }));
  } else {
    res.writeHead(403, { "content-type": "application/problem+json" });
    res.end(JSON.stringify({ status: 403, code: "caller_forbidden", detail: "no" }));
  }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const client = new TokenBrokerClient({ url: "http://127.0.0.1:" + server.address().port, caller: () => "jwt" });
const credential = await client.getCredential("demo");
const token = await client.tokenCredential("demo").getToken("api://demo/.default");
const refused = await client.getCredential("other").catch((e) => e);
server.close();
console.log(JSON.stringify({ tokenType: credential.tokenType, fingerprint: credential.fingerprint, azure: token.tokenType,
  error: refused instanceof TokenBrokerError ? [refused.code, refused.status] : String(refused) }));
`,
    );
    const { stdout } = await run(process.execPath, ["check.mjs"], { cwd: project });
    assert.deepEqual(JSON.parse(stdout), { tokenType: "Bearer", fingerprint: "sha256:0123456789ab", azure: "Bearer", error: ["caller_forbidden", 403] });

    // Its types, as a TypeScript user compiles against them.
    writeFileSync(
      join(project, "use.ts"),
      `import { TokenBrokerClient, TokenBrokerError, type PartnerCredential } from "@token-broker/client";
const client = new TokenBrokerClient({ url: "https://broker", caller: () => "jwt", onEvent: (e) => void e.fingerprint });
const c: Promise<PartnerCredential> = client.getCredential("flowe", { minTtlSec: 60 });
const e = new TokenBrokerError("x", "y", { status: 503, retryAfterSec: 5 });
export const used = [c, e.retryAfterSec, client.tokenCredential("flowe-servicebus")];
`,
    );
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    await run(process.execPath, [tsc, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--lib", "es2023,dom", "--types", "", "use.ts"], {
      cwd: project,
    });

    // The bin: usage on --help, exit 2 without a command, no credentials -> exit 1 with the code.
    const bin = join(project, "node_modules", ".bin", "token-broker");
    const help = await run(bin, ["--help"], { cwd: project });
    assert.match(help.stdout, /Usage: token-broker <command>/);
    const failed = await run(bin, ["status", "--url", "http://127.0.0.1:9"], { cwd: project, env: { PATH: process.env.PATH ?? "" } }).catch((e) => e);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /^error: no_credentials/);
  });
});

/** A package's dependencies, transitively, as installed directories (Node's resolution from `from`). */
function dependencyClosure(name: string, from: string): string[] {
  const found = new Map<string, string>();
  const visit = (pkg: string, base: string) => {
    let dir = base;
    let location: string | undefined;
    for (;;) {
      const candidate = join(dir, "node_modules", pkg);
      if (existsSync(join(candidate, "package.json"))) {
        location = candidate;
        break;
      }
      const parent = dirname(dir);
      if (parent === dir) throw new Error(`${pkg} is not installed`);
      dir = parent;
    }
    if (found.has(location)) return;
    found.set(location, pkg);
    const manifest = JSON.parse(readFileSync(join(location, "package.json"), "utf8"));
    for (const dep of Object.keys(manifest.dependencies ?? {})) visit(dep, location);
  };
  visit(name, from);
  return [...found.keys()];
}
