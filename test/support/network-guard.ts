import dns from "node:dns";
import net from "node:net";

/**
 * Refuses, at the socket level, every connection and DNS lookup that does not stay on loopback,
 * and remembers each attempt so a test can fail on it. Telemetry SDKs reach out on their own
 * (statistics endpoints, settings polls, the VM metadata address): on a closed network that must
 * be seen, not silently time out. Install in the test process, or in a child with
 * `--import <network-guard-register.js>` (attempts then go to stderr as `network_guard_refused`).
 */
export interface NetworkAttempt {
  kind: "connect" | "dns";
  target: string;
}

export const networkAttempts: NetworkAttempt[] = [];
let installed = false;

export function installNetworkGuard(onAttempt: (attempt: NetworkAttempt) => void = () => {}): void {
  if (installed) return;
  installed = true;
  const refuse = (attempt: NetworkAttempt) => {
    networkAttempts.push(attempt);
    onAttempt(attempt);
    return Object.assign(new Error(`network guard: ${attempt.kind} to ${attempt.target} refused (loopback only)`), { code: "ECONNREFUSED" });
  };

  const connect = net.Socket.prototype.connect as (...args: unknown[]) => net.Socket;
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]): net.Socket {
    const target = connectTarget(args);
    if (target !== undefined && !isLoopback(target.host)) {
      const error = refuse({ kind: "connect", target: `${target.host}:${target.port ?? ""}` });
      process.nextTick(() => this.destroy(error));
      return this;
    }
    return connect.apply(this, args);
  } as typeof net.Socket.prototype.connect;

  const lookup = dns.lookup as (...args: unknown[]) => void;
  (dns as { lookup: unknown }).lookup = function guardedLookup(hostname: unknown, ...rest: unknown[]): void {
    if (typeof hostname === "string" && !isLoopback(hostname)) {
      const callback = rest.at(-1);
      const error = refuse({ kind: "dns", target: hostname });
      if (typeof callback === "function") process.nextTick(() => (callback as (e: Error) => void)(error));
      return;
    }
    lookup.call(dns, hostname, ...rest);
  };
  const promiseLookup = dns.promises.lookup.bind(dns.promises);
  (dns.promises as { lookup: unknown }).lookup = async (hostname: string, ...rest: unknown[]) => {
    if (!isLoopback(hostname)) throw refuse({ kind: "dns", target: hostname });
    return (promiseLookup as (...a: unknown[]) => Promise<unknown>)(hostname, ...rest);
  };
  for (const name of ["resolve", "resolve4", "resolve6", "resolveAny", "resolveCname", "resolveTxt", "resolveSrv"] as const) {
    (dns as unknown as Record<string, unknown>)[name] = (hostname: string, ...rest: unknown[]) => {
      const callback = rest.at(-1);
      const error = refuse({ kind: "dns", target: hostname });
      if (typeof callback === "function") process.nextTick(() => (callback as (e: Error) => void)(error));
    };
    (dns.promises as unknown as Record<string, unknown>)[name] = async (hostname: string) => {
      throw refuse({ kind: "dns", target: hostname });
    };
  }
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1" || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\./.test(h);
}

/** Host and port of a Socket#connect call; undefined for a local (IPC) path. */
function connectTarget(args: unknown[]): { host: string; port?: number } | undefined {
  let first = args[0];
  // Node calls connect([options, callback]) internally (normalized arguments).
  if (Array.isArray(first)) first = first[0];
  if (typeof first === "object" && first !== null) {
    const options = first as { path?: string; host?: string; port?: number };
    if (options.path !== undefined) return undefined;
    return { host: options.host ?? "localhost", port: options.port };
  }
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    const host = typeof args[1] === "string" ? args[1] : "localhost";
    return { host, port: Number(first) };
  }
  return undefined;
}
