import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ensureDevTls, withDevCa } from "./tls.js";

/**
 * `npm test`: runs every compiled test under node:test with the dev CA trusted, so the real Azure
 * SDKs can talk HTTPS to the loopback fakes. Arguments narrow the run to files or directories.
 */
const tls = await ensureDevTls();
const targets = process.argv.slice(2);
const files = (targets.length ? targets : ["dist/test"]).flatMap(collect).sort();
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
const child = spawn(process.execPath, ["--test", "--test-concurrency=2", ...files], {
  stdio: "inherit",
  env: withDevCa(process.env, tls),
});
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 1)));

function collect(path: string): string[] {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".test.js"))
    .map((f) => join(path, f));
}
