import type { ValueOrSecret } from "../config/secret-ref-schema.js";
import { BrokerError } from "../errors/broker-error.js";
import type { SecretStore } from "../secrets/secret-store.js";

export interface ResolvedHeaders {
  headers: Record<string, string>;
  /** `name@version` of every secret read: part of the cache key, so a new version is picked up. */
  versions: string[];
}

/** Resolves configured extra headers, reading secret-backed values from the store. */
export async function resolveHeaders(spec: Record<string, ValueOrSecret>, secrets: SecretStore): Promise<ResolvedHeaders> {
  const entries = Object.entries(spec);
  const resolved = await Promise.all(entries.map(([, value]) => resolveValue(value, secrets)));
  const headers: Record<string, string> = {};
  const versions: string[] = [];
  entries.forEach(([name], i) => {
    const value = resolved[i]!;
    headers[name] = assertHeaderValue(value.value, name);
    if (value.version) versions.push(value.version);
  });
  return { headers, versions };
}

export async function resolveValue(value: ValueOrSecret, secrets: SecretStore): Promise<{ value: string; version?: string }> {
  if (typeof value === "string") return { value };
  const secret = await secrets.get(value.secret);
  return { value: secret.value, version: `${secret.name}@${secret.version}` };
}

/** CR, LF or NUL in a header value would split the caller's request: refuse, without echoing it. */
export function assertHeaderValue(value: string, header: string): string {
  if (/[\r\n\0]/.test(value) || value.length === 0) {
    throw new BrokerError("secret_unavailable", `The value configured for header "${header}" is not a valid header value.`);
  }
  return value;
}

/** Sets a header, dropping any configured header of the same name in another case. */
export function withHeader(headers: Record<string, string>, name: string, value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== name.toLowerCase()) out[k] = v;
  out[name] = value;
  return out;
}
