import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The fleet bench's Redis: a real redis-server on loopback, a free port (never 6379), nothing
 * persisted, its own temp dir. A copy of the spawn logic of test/support/redis-server.ts, which
 * bench/ does not import (test code is not part of the product's tooling).
 */
export interface BenchRedis {
  readonly url: string;
  readonly pid: number;
  /** SIGTERM, wait for the exit, remove the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

const READY_LINE = "Ready to accept connections";
const START_TIMEOUT_MS = 5_000;

/** Undefined when redis-server runs; otherwise why not (for a visible skip message). */
export function redisServerMissing(): string | undefined {
  const probe = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
  if (probe.error === undefined && probe.status === 0) return undefined;
  return "redis-server is not on PATH (apt-get install redis-server)";
}

export async function startBenchRedis(): Promise<BenchRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "bench-redis-"));
  let child: ChildProcess;
  try {
    child = await launch(["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  // If the bench dies without its cleanup (process.exit from a watchdog), the server must not outlive it.
  const onExit = () => child.kill("SIGKILL");
  process.once("exit", onExit);
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      process.off("exit", onExit);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Spawns redis-server and resolves once it accepts connections. */
function launch(args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`redis-server did not start in ${START_TIMEOUT_MS} ms:\n${output.slice(-2000)}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (!output.includes(READY_LINE)) return;
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stdout?.resume(); // keep draining so the pipe never fills
      child.stderr?.resume();
      child.off("exit", onEarlyExit);
      resolve(child);
    };
    const onEarlyExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${output.slice(-2000)}`));
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.once("exit", onEarlyExit);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 && port !== 6379 ? resolve(port) : freePort().then(resolve, reject)));
    });
  });
}
