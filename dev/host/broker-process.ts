import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface BrokerProcess {
  url: string;
  pid: number;
  /** Every stdout/stderr line so far: tests scan them for canary values. */
  lines: string[];
  waitForLine(match: RegExp, timeoutMs?: number): Promise<string>;
  /** Runs a non-HTTP function (the maintenance timer) now and waits for its completion line. */
  invoke(functionName: string): Promise<void>;
  /** Graceful stop (SIGTERM). */
  stop(): Promise<void>;
  /** Abrupt death (SIGKILL), as a crashed instance. */
  kill(): Promise<void>;
}

export interface BrokerProcessOptions {
  /** 0 (default) = a free port. */
  port?: number;
  /**
   * Send the child's stdout and stderr to this file (appended) instead of pipes. Under load a pipe
   * must be drained by the parent, which then competes with its own work (the benchmark's load
   * generator); a file costs the child one write and the parent nothing. `lines` and
   * `waitForLine` then read the file.
   */
  logFile?: string;
  /** Extra node flags for the child, e.g. ["--cpu-prof", "--cpu-prof-dir=..."]. */
  nodeArgs?: string[];
  /**
   * Another host script that prints the same `{"event":"host_listening","url":...}` line (e.g. the
   * benchmark's trivial host), so it is started and stopped exactly like a broker. Default: serve-functions.js.
   */
  script?: string;
  /**
   * CPU list (taskset syntax, e.g. "1") the child and all its threads run on. Linux with
   * util-linux's taskset only; the benchmark uses it to keep servers off the load generator's core.
   */
  cpus?: string;
}

const SERVE = join(dirname(fileURLToPath(import.meta.url)), "serve-functions.js");
const LOG_FILE_POLL_MS = 20;

/**
 * Starts one broker instance (local Functions host + the function files) as a child process with
 * the given app settings, and resolves once it listens.
 */
export async function spawnBrokerProcess(env: Record<string, string | undefined>, options: BrokerProcessOptions = {}): Promise<BrokerProcess> {
  const logFd = options.logFile !== undefined ? openSync(options.logFile, "a") : undefined;
  // Lines already in an appended-to file belong to earlier processes.
  let offset = logFd !== undefined ? fstatSync(logFd).size : 0;
  let child: ChildProcess;
  try {
    const node = [process.execPath, ...(options.nodeArgs ?? []), options.script ?? SERVE];
    // taskset execs node in place: the pid stays the child's own.
    const [command, ...args] = options.cpus === undefined ? node : ["taskset", "-c", options.cpus, ...node];
    child = spawn(command!, args, {
      env: { ...process.env, ...env, PORT: String(options.port ?? 0) },
      stdio: logFd === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", logFd, logFd],
    });
  } finally {
    // The child holds its own copy of the descriptor.
    if (logFd !== undefined) closeSync(logFd);
  }
  const lines: string[] = [];
  const waiters = new Set<{ match: RegExp; resolve: (line: string) => void }>();
  const onData = (chunk: Buffer, carry: { rest: string }) => {
    const text = carry.rest + chunk.toString("utf8");
    const parts = text.split("\n");
    carry.rest = parts.pop() ?? "";
    for (const line of parts) {
      lines.push(line);
      for (const w of waiters) {
        if (!w.match.test(line)) continue;
        waiters.delete(w);
        w.resolve(line);
      }
    }
  };
  const out = { rest: "" };
  const err = { rest: "" };
  // Reads what the child appended to the log file since the last call (no-op with pipes).
  let pump = () => {};
  if (options.logFile === undefined) {
    child.stdout!.on("data", (c: Buffer) => onData(c, out));
    child.stderr!.on("data", (c: Buffer) => onData(c, err));
  } else {
    const file = options.logFile;
    pump = () => {
      const fd = openSync(file, "r");
      try {
        const buffer = Buffer.alloc(64 * 1024);
        for (;;) {
          const n = readSync(fd, buffer, 0, buffer.length, offset);
          if (n <= 0) break;
          offset += n;
          onData(buffer.subarray(0, n), out);
        }
      } finally {
        closeSync(fd);
      }
    };
  }

  const waitForLine = (match: RegExp, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      pump();
      const found = lines.find((l) => match.test(l));
      if (found) return resolve(found);
      const poll = options.logFile !== undefined ? setInterval(pump, LOG_FILE_POLL_MS) : undefined;
      const done = () => {
        clearTimeout(timer);
        clearInterval(poll);
      };
      const waiter = {
        match,
        resolve: (l: string) => {
          done();
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        clearInterval(poll);
        reject(new Error(`broker process: no line matching ${match} within ${timeoutMs} ms:\n${lines.slice(-20).join("\n")}`));
      }, timeoutMs);
      waiters.add(waiter);
      child.once("exit", (code) => {
        pump();
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        done();
        reject(new Error(`broker process exited (${code}) before ${match}:\n${lines.slice(-20).join("\n")}`));
      });
    });

  let listening: { url: string };
  try {
    listening = JSON.parse(await waitForLine(/"event":"host_listening"/)) as { url: string };
  } catch (error) {
    // Never leave a half-started child behind (it would keep the parent alive).
    await terminate(child, "SIGKILL");
    throw error;
  }
  return {
    url: listening.url,
    pid: child.pid!,
    get lines() {
      pump();
      return lines;
    },
    waitForLine,
    async invoke(functionName) {
      const mark = lines.length;
      const res = await fetch(`${listening.url}/admin/functions/${functionName}`, { method: "POST", body: "{}" });
      if (res.status !== 202) throw new Error(`invoke ${functionName}: HTTP ${res.status}`);
      const done = new RegExp(`Executed 'Functions\\.${functionName}' \\((Succeeded|Failed)\\)`);
      await waitFor(() => lines.slice(mark).some((l) => done.test(l)) || undefined);
    },
    stop: () => terminate(child, "SIGTERM"),
    kill: () => terminate(child, "SIGKILL"),
  };
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    // "close", not "exit": with pipes, the last lines the child wrote are read only by then.
    child.once("close", () => resolve());
    child.kill(signal);
  });
}
