import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { BrokerError } from "../../shared/errors/broker-error.js";
import type { ErrorCode } from "../../shared/errors/codes.js";
import { problemResult } from "../../shared/http/http-result.js";
import { errorFields } from "../../shared/log/logger.js";
import { installFunctionsCore, type RegisteredFunction } from "./functions-core.js";
import { httpRoute, validateFunctions } from "./function-validation.js";
import { readBody, toHttpRequest, TOO_LARGE, writeEmpty, writeHttpResult } from "./http-bridge.js";
import { Invoker, type HostLog } from "./invoker.js";
import { parseNcrontab } from "./ncrontab.js";
import { RouteTable } from "./route-table.js";
import { TimerScheduler, type TimerJob } from "./timer-scheduler.js";
import { indexedFunctions } from "./worker-indexing.js";

export type { RegisteredFunction } from "./functions-core.js";

export interface LocalHost {
  /** e.g. http://127.0.0.1:7071 (no route prefix). */
  url: string;
  port: number;
  functions: RegisteredFunction[];
  /** Runs a timer (or any non-HTTP) function now; rejects with the handler's error. */
  invoke(functionName: string): Promise<void>;
  close(): Promise<void>;
}

export interface LocalHostOptions {
  /** Absolute paths or file URLs of compiled function files. */
  modules: string[];
  /** 0 (default) = a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default "api". */
  routePrefix?: string;
  /** For %SETTING% in timer schedules; default process.env. */
  env?: Record<string, string | undefined>;
  /** Default true; when false, timers run only through invoke() or the admin API. */
  enableTimers?: boolean;
  log?: (line: string) => void;
  /**
   * close() stops accepting connections and lets requests in flight finish for at most this long
   * before cutting them (default 10 s), as the Functions host drains an instance on scale-in.
   */
  drainGraceMs?: number;
}

const ADMIN_PREFIX = "/admin/functions/";
const adminBodySchema = z.looseObject({ input: z.string().optional() });

/**
 * The local Azure Functions host: imports the same compiled function files Azure runs, receives
 * their `app.http`/`app.timer` registrations through our `@azure/functions-core`, and serves them
 * over node:http (keep-alive) with the real `HttpRequest`/`InvocationContext` classes. Timers
 * follow their NCRONTAB schedules; `POST /admin/functions/{name}` runs one now (loopback only),
 * like the real host's admin API. Start-up applies the worker's indexing rules (worker-indexing.ts)
 * and the host's validation of what it indexes (function-validation.ts), and refuses to start on
 * any failure, naming every problem.
 */
export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const log: HostLog = options.log ?? ((line) => process.stdout.write(line + "\n"));
  // Before any function module is imported: @azure/functions caches a missing core for good.
  const registry = installFunctionsCore();
  const removeSink = registry.addLogSink((level, _category, message) => log(`[host] ${level}: ${message}`));
  let scheduler: TimerScheduler | undefined;
  try {
    const loaded = await registry.load(options.modules);
    // The worker's rules first (what it would report), then the host's (what it would load).
    const functions = indexedFunctions(loaded);
    validateFunctions(functions, options.routePrefix ?? "api");
    const byName = new Map(functions.map((fn) => [fn.name.toLowerCase(), fn]));
    for (const href of loaded.withoutFunctions) {
      log(`[host] warning: ${href} registered no functions (was it imported before the host started?)`);
    }

    const invoker = new Invoker(loaded, log);
    const logFailure = (fn: RegisteredFunction, error: unknown) =>
      log(`[${fn.name}] error: Executed 'Functions.${fn.name}' (Failed): ${describeError(error)}`);
    const runLogged = async (fn: RegisteredFunction, input: unknown): Promise<void> => {
      try {
        await invoker.invoke(fn, input);
        // The real host's wording: scripts and tests wait for this line after an admin invoke.
        log(`[${fn.name}] information: Executed 'Functions.${fn.name}' (Succeeded)`);
      } catch (error) {
        logFailure(fn, error);
        throw error;
      }
    };
    const routes = new RouteTable<RegisteredFunction>(options.routePrefix ?? "api");
    const jobs: TimerJob[] = [];
    const env = options.env ?? process.env;
    for (const fn of functions) {
      if (isType(fn, "httpTrigger")) {
        const route = httpRoute(fn);
        const methods = Array.isArray(fn.trigger.methods) ? fn.trigger.methods.map(String) : undefined;
        routes.add(route, methods, fn);
      } else if (isType(fn, "timerTrigger")) {
        const schedule = timerSchedule(fn, env);
        jobs.push({
          name: fn.name,
          schedule,
          runOnStartup: fn.trigger.runOnStartup === true,
          run: (timer) => runLogged(fn, timer).catch(() => undefined),
        });
      }
    }
    scheduler = new TimerScheduler(jobs);
    const timers = scheduler;

    const nonHttpInput = (fn: RegisteredFunction, input: string | undefined): unknown =>
      isType(fn, "timerTrigger") ? timers.manualInfo(fn.name) : input;
    const adminRuns = new Set<Promise<unknown>>();

    await invoker.runAppHooks("appStart", { functionAppDirectory: process.cwd() });

    const host = options.host ?? "127.0.0.1";
    let origin = `http://${host.includes(":") ? `[${host}]` : host}`;

    const handleAdmin = async (req: IncomingMessage, res: ServerResponse, rawPath: string): Promise<void> => {
      if (req.method !== "POST") return writeEmpty(res, 405, { allow: "POST" });
      if (!isLoopback(req.socket.remoteAddress)) return writeEmpty(res, 403);
      let name: string;
      try {
        name = decodeURIComponent(rawPath.slice(ADMIN_PREFIX.length));
      } catch {
        return writeEmpty(res, 400);
      }
      const body = await readBody(req);
      if (body === TOO_LARGE) return writeEmpty(res, 413, { connection: "close" });
      let input: string | undefined;
      if (body !== undefined) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString("utf8"));
        } catch {
          return writeEmpty(res, 400);
        }
        const checked = adminBodySchema.safeParse(parsed);
        if (!checked.success) return writeEmpty(res, 400);
        input = checked.data.input;
      }
      const fn = byName.get(name.toLowerCase());
      if (!fn) return writeEmpty(res, 404);
      if (isType(fn, "httpTrigger")) return writeEmpty(res, 400);
      const run = runLogged(fn, nonHttpInput(fn, input)).catch(() => undefined);
      adminRuns.add(run);
      void run.finally(() => adminRuns.delete(run));
      writeEmpty(res, 202);
    };

    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const rawUrl = req.url ?? "/";
      const q = rawUrl.indexOf("?");
      const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
      if (rawPath.length > ADMIN_PREFIX.length && rawPath.slice(0, ADMIN_PREFIX.length).toLowerCase() === ADMIN_PREFIX) {
        return handleAdmin(req, res, rawPath);
      }
      const found = routes.lookup(req.method ?? "GET", rawPath);
      switch (found.kind) {
        case "not-found":
          return writeProblem(res, "route_not_found", "No function serves this path.");
        case "bad-path":
          return writeProblem(res, "bad_request", "The request path is malformed.");
        case "method-not-allowed":
          return writeProblem(res, "method_not_allowed", `This route accepts ${found.allow.join(", ")}.`, { allow: found.allow.join(", ") });
      }
      const body = await readBody(req);
      if (body === TOO_LARGE) return writeProblem(res, "payload_too_large", "The request body is too large.", { connection: "close" });
      let request: ReturnType<typeof toHttpRequest>;
      try {
        request = toHttpRequest(req, body, found.params, origin);
      } catch {
        return writeProblem(res, "bad_request", "The request could not be read.");
      }
      try {
        const result = await invoker.invoke(found.target, request);
        await writeHttpResult(res, result);
      } catch (error) {
        // Like the real host: the caller learns nothing but 500, the log gets the failure.
        logFailure(found.target, error);
        if (!res.headersSent) writeEmpty(res, 500);
        else res.destroy();
      }
    };

    let inFlight = 0;
    let draining = false;
    let onDrained: (() => void) | undefined;
    const server = createServer((req, res) => {
      inFlight++;
      res.once("close", () => {
        if (--inFlight === 0) onDrained?.();
      });
      // A request that arrives on a kept-alive connection while draining is served, and its
      // connection closed after the answer.
      if (draining) res.setHeader("connection", "close");
      handle(req, res).catch((error: unknown) => {
        // Only transport failures get here (client went away mid-body...): never crash for them.
        log(`[host] warning: request failed: ${describeError(error)}`);
        if (!res.headersSent && !res.destroyed) writeProblem(res, "bad_request", "The request could not be read.", { connection: "close" });
        else res.destroy();
      });
    });
    const malformed = problemResult(new BrokerError("bad_request", "The HTTP request is malformed."));
    const malformedResponse =
      "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n" +
      Object.entries(malformed.headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("") +
      `Content-Length: ${Buffer.byteLength(malformed.body)}\r\n\r\n${malformed.body}`;
    server.on("clientError", (_error, socket) => {
      if (socket.writable) socket.end(malformedResponse);
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    origin = `${origin}:${port}`;
    if (options.enableTimers ?? true) timers.start();
    log(`[host] information: listening on ${origin}/${(options.routePrefix ?? "api").replace(/^\/+/, "")} with ${functions.length} function(s)`);

    let closing: Promise<void> | undefined;
    return {
      url: origin,
      port,
      functions,
      async invoke(functionName: string): Promise<void> {
        const fn = byName.get(functionName.toLowerCase());
        if (!fn) throw new Error(`no function named "${functionName}"`);
        if (isType(fn, "httpTrigger")) throw new Error(`"${fn.name}" is HTTP-triggered: call it over HTTP`);
        await runLogged(fn, nonHttpInput(fn, undefined));
      },
      close(): Promise<void> {
        closing ??= (async () => {
          draining = true;
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeIdleConnections();
          if (inFlight > 0) {
            const graceMs = options.drainGraceMs ?? 10_000;
            let timer: ReturnType<typeof setTimeout> | undefined;
            const drained = await Promise.race([
              new Promise<true>((resolve) => (onDrained = () => resolve(true))),
              new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
            ]);
            clearTimeout(timer);
            if (!drained) log(`[host] warning: ${inFlight} request(s) still running after the ${graceMs} ms drain grace were cut`);
          }
          server.closeAllConnections();
          await closed;
          await timers.stop();
          await Promise.all([...adminRuns]);
          try {
            await invoker.runAppHooks("appTerminate");
          } catch (error) {
            log(`[host] error: appTerminate hook failed: ${describeError(error)}`);
          }
          removeSink();
        })();
        return closing;
      },
    };
  } catch (error) {
    await scheduler?.stop();
    removeSink();
    throw error;
  }
}

/**
 * Host-level refusals (no route, wrong method, malformed path, body too large) as the broker's
 * problem+json, so a client parses one error shape whatever answered.
 */
function writeProblem(res: ServerResponse, code: ErrorCode, detail: string, headers: Record<string, string> = {}): void {
  const problem = problemResult(new BrokerError(code, detail));
  res.writeHead(problem.status, { ...problem.headers, ...headers, "content-length": Buffer.byteLength(problem.body) });
  res.end(problem.body);
}

function isType(fn: RegisteredFunction, type: string): boolean {
  return fn.triggerType.toLowerCase() === type.toLowerCase();
}

function timerSchedule(fn: RegisteredFunction, env: Record<string, string | undefined>) {
  const expression = substituteSettings(String(fn.trigger.schedule ?? ""), env, fn.name);
  try {
    return parseNcrontab(expression);
  } catch (error) {
    throw new Error(`function "${fn.name}": ${(error as Error).message}`, { cause: error });
  }
}

/** `%NAME%` in binding properties is an app setting, resolved at start-up as the real host does. */
function substituteSettings(text: string, env: Record<string, string | undefined>, functionName: string): string {
  return text.replace(/%([^%]+)%/g, (_match, name: string) => {
    const value = env[name];
    if (value === undefined || value === "") {
      throw new Error(`function "${functionName}": app setting "${name}" used in its schedule is not set`);
    }
    return value;
  });
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

/** Class/code chain and stack frames, never the message: messages can quote upstream bodies. */
function describeError(error: unknown): string {
  const chain = errorFields(error).error_chain;
  const frames =
    error instanceof Error && typeof error.stack === "string"
      ? error.stack
          .split("\n")
          .filter((l) => /^\s+at /.test(l))
          .slice(0, 8)
          .join("\n")
      : "";
  return [Array.isArray(chain) ? chain.join(" <- ") : String(chain), frames].filter(Boolean).join("\n");
}
