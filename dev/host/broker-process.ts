import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface BrokerProcess {
  url: string;
  pid: number;
  /** Every stdout/stderr line so far: tests scan them for canary values. */
  lines: string[];
  waitForLine(match: RegExp, timeoutMs?: number): Promise<string>;
  /** Graceful stop (SIGTERM). */
  stop(): Promise<void>;
  /** Abrupt death (SIGKILL), as a crashed instance. */
  kill(): Promise<void>;
}

const SERVE = join(dirname(fileURLToPath(import.meta.url)), "serve-functions.js");

/**
 * Starts one broker instance (local Functions host + the function files) as a child process with
 * the given app settings, and resolves once it listens.
 */
export async function spawnBrokerProcess(env: Record<string, string | undefined>, options: { port?: number } = {}): Promise<BrokerProcess> {
  const child = spawn(process.execPath, [SERVE], {
    env: { ...process.env, ...env, PORT: String(options.port ?? 0) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters = new Set<{ match: RegExp; resolve: (line: string) => void }>();
  const onData = (chunk: Buffer, carry: { rest: string }) => {
    const text = carry.rest + chunk.toString("utf8");
    const parts = text.split("\n");
    carry.rest = parts.pop() ?? "";
    for (const line of parts) {
      lines.push(line);
      for (const w of waiters) if (w.match.test(line)) (waiters.delete(w), w.resolve(line));
    }
  };
  const out = { rest: "" };
  const err = { rest: "" };
  child.stdout!.on("data", (c: Buffer) => onData(c, out));
  child.stderr!.on("data", (c: Buffer) => onData(c, err));

  const waitForLine = (match: RegExp, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const found = lines.find((l) => match.test(l));
      if (found) return resolve(found);
      const waiter = { match, resolve: (l: string) => (clearTimeout(timer), resolve(l)) };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`broker process: no line matching ${match} within ${timeoutMs} ms:\n${lines.slice(-20).join("\n")}`));
      }, timeoutMs);
      waiters.add(waiter);
      child.once("exit", (code) => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`broker process exited (${code}) before ${match}:\n${lines.slice(-20).join("\n")}`));
      });
    });

  const listening = JSON.parse(await waitForLine(/"event":"host_listening"/)) as { url: string };
  return {
    url: listening.url,
    pid: child.pid!,
    lines,
    waitForLine,
    stop: () => terminate(child, "SIGTERM"),
    kill: () => terminate(child, "SIGKILL"),
  };
}

function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill(signal);
  });
}
