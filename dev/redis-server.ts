import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A real redis-server for the fleet tests and the fleet benchmark: loopback only, a free port (never 6379), no persistence, its
 * own temp dir. stop/kill/restart/pause/resume drive outage tests; restart keeps the port so
 * clients reconnect to the same URL.
 */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash) and wait for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port, empty (nothing is persisted). */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing (a hung Redis). */
  pause(): void;
  resume(): void;
}

export interface RedisServerOptions {
  /** Adds `--requirepass` and puts the password in the URL. */
  password?: string;
  /** Serves TLS only (rediss://) with these PEM files. */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** Extra redis-server arguments. */
  args?: string[];
}

const READY_LINE = "Ready to accept connections";
const START_TIMEOUT_MS = 5_000;

let availability: boolean | undefined;

export function redisServerAvailable(): boolean {
  if (availability === undefined) {
    const probe = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
    availability = probe.error === undefined && probe.status === 0;
  }
  return availability;
}


export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "broker-redis-"));
  const args = [
    "--bind",
    "127.0.0.1",
    ...(options.tls
      ? ["--port", "0", "--tls-port", String(port), "--tls-cert-file", options.tls.certFile, "--tls-key-file", options.tls.keyFile, "--tls-ca-cert-file", options.tls.caFile, "--tls-auth-clients", "no"]
      : ["--port", String(port)]),
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--daemonize",
    "no",
    "--loglevel",
    "notice",
    ...(options.password ? ["--requirepass", options.password] : []),
    ...(options.args ?? []),
  ];
  let child = await launch(args);
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : "";
  const url = `${options.tls ? "rediss" : "redis"}://${auth}127.0.0.1:${port}`;

  const terminate = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGCONT"); // a paused server would never handle SIGTERM
    child.kill(signal);
    await exited;
  };

  return {
    url,
    port,
    stop: async () => {
      await terminate("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => terminate("SIGKILL"),
    restart: async () => {
      await terminate("SIGTERM");
      // stop() removed the directory; redis-server refuses to start without its --dir.
      mkdirSync(dir, { recursive: true });
      child = await launch(args);
    },
    pause: () => {
      child.kill("SIGSTOP");
    },
    resume: () => {
      child.kill("SIGCONT");
    },
  };
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Spawns redis-server and resolves once it accepts connections. */
function launch(args: string[]): Promise<ChildProcess> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test that throws before its cleanup must not leave a server behind.
    process.once("exit", () => {
      for (const child of running) child.kill("SIGKILL");
    });
  }
  return new Promise((resolve, reject) => {
    const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    child.once("exit", () => running.delete(child));
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`redis-server did not start in ${START_TIMEOUT_MS} ms:\n${output.slice(-2000)}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.includes(READY_LINE)) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.stdout?.resume(); // keep draining so the pipe never fills
        child.off("exit", onEarlyExit);
        resolve(child);
      }
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
