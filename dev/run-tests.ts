import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative } from "node:path";
import { ensureDevTls, withDevCa } from "./tls.js";

/**
 * `npm test`: runs compiled tests under node:test with the dev CA trusted, so the real Azure SDKs
 * can talk HTTPS to the loopback fakes. Arguments narrow the run to files or directories;
 * `--unit` or `--e2e` keeps one kind (see `isEndToEnd`).
 *
 * Only a compiled test whose TypeScript source still exists runs: tsc never deletes outputs, so
 * the compiled copy of a deleted or renamed test would otherwise go on running.
 */
/**
 * End-to-end tests start other processes: broker processes through the local host, a Redis
 * fleet, `npm start`, a second writer. Everything else runs in this process (`npm run test:unit`).
 */
const END_TO_END_IMPORTS = [
  /from "node:child_process"/,
  /from "[./]*\/(?:support\/demo-broker|support\/demo-fleet|support\/redis-skip|dev\/redis-server|dev\/host\/broker-process)\.js"/,
];

const args = process.argv.slice(2);
const kind = args.includes("--unit") ? "unit" : args.includes("--e2e") ? "e2e" : "all";
const targets = args.filter((a) => a !== "--unit" && a !== "--e2e");
const files = (targets.length ? targets : ["dist/test"])
  .flatMap(collect)
  .filter((file) => kind === "all" || isEndToEnd(file) === (kind === "e2e"))
  .sort();
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
// A unit test process spends much of its CPU starting up (loading modules, generating keys) and
// part of its time waiting (loopback I/O, timers): twice the cores keeps the cores busy through
// the waits (on 2 cores, 3 or 4 files at once finish the unit run 0.5 to 1 s sooner than 2). End-to-
// end tests each start broker processes, which already keep the cores busy.
const concurrency = kind === "unit" ? availableParallelism() * 2 : 2;
const tls = await ensureDevTls();
// Unit tests reach nothing but loopback, so the dev CA alone is enough for them. Node parses every
// NODE_EXTRA_CA_CERTS certificate when a process starts: a full system bundle inherited from the
// environment would cost each of the ~80 test processes tens of milliseconds of CPU for nothing.
const env = kind === "unit" ? { ...process.env, NODE_EXTRA_CA_CERTS: tls.caFile } : withDevCa(process.env, tls);
const child = spawn(process.execPath, ["--test", `--test-concurrency=${concurrency}`, ...files], { stdio: "inherit", env });
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 1)));

function collect(path: string): string[] {
  if (statSync(path).isFile()) {
    if (existsSync(sourceOf(path))) return [path];
    console.error(`${path}: its source ${sourceOf(path)} no longer exists; run npm run clean && npm run build`);
    process.exit(1);
  }
  return readdirSync(path, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".test.js"))
    .map((f) => join(path, f))
    .filter((f) => existsSync(sourceOf(f)));
}

/** dist/test/a/b.test.js → test/a/b.test.ts */
function sourceOf(compiled: string): string {
  return relative("dist", compiled).replace(/\.js$/, ".ts");
}

function isEndToEnd(compiled: string): boolean {
  const source = readFileSync(sourceOf(compiled), "utf8");
  return END_TO_END_IMPORTS.some((pattern) => pattern.test(source));
}
