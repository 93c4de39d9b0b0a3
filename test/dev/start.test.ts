import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

const START = fileURLToPath(new URL("../../dev/start.js", import.meta.url));

let busy: Server;
let busyPort: number;
let cwd: string;

before(async () => {
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  busyPort = (busy.address() as { port: number }).port;
  cwd = mkdtempSync(join(tmpdir(), "start-"));
});

after(async () => {
  await new Promise<void>((resolve) => busy.close(() => resolve()));
  rmSync(cwd, { recursive: true, force: true });
});

/** Runs `npm start`'s script in a scratch directory; kills it if it does not stop by itself. */
function runStart(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [START], { cwd, env: { ...process.env, BROKER_CONFIG: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

describe("npm start on a busy port", () => {
  test("names the broker's port and PORT instead of an EADDRINUSE stack trace", async () => {
    const { code, stderr } = await runStart({ PORT: String(busyPort), SANDBOX_PORT: "0" });
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`port ${busyPort} \\(the broker\\) is already in use.*PORT=<port> npm start`));
    assert.doesNotMatch(stderr, /EADDRINUSE|\n\s+at /);
  });

  test("names the sandbox's port and SANDBOX_PORT", async () => {
    const { code, stderr } = await runStart({ PORT: "0", SANDBOX_PORT: String(busyPort) });
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`port ${busyPort} \\(sandbox partners\\) is already in use.*SANDBOX_PORT=<port> npm start`));
    assert.doesNotMatch(stderr, /EADDRINUSE|\n\s+at /);
  });
});
