import { RotationSchema } from "./rotation-schema.js";
import { CachePolicySchema } from "./provider-base-schema.js";
import { SecretsSchema } from "./schema.js";

export interface FieldProblem {
  path: (string | number)[];
  message: string;
}

/**
 * The rules that span several fields, written against the raw JSON so that a file with other
 * errors still gets them named in the same report (a zod refinement on the whole object runs only
 * once every field is valid). Each rule reads the pieces it needs through their own schemas
 * (defaults included) and stays silent when a piece is itself invalid: that piece has its own error.
 */
export function crossFieldProblems(raw: unknown): FieldProblem[] {
  const root = record(raw);
  if (!root) return [];
  return [...referenceProblems(root), ...rotationProblems(root)];
}

/** Names that must point at something defined elsewhere: a caller's issuer and providers, an authProvider. */
function referenceProblems(root: Record<string, unknown>): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const issuers = record(root.issuers);
  const providers = record(root.providers);
  if (!issuers || !providers) return problems;
  for (const [name, value] of Object.entries(record(root.callers) ?? {})) {
    const caller = record(value);
    if (typeof caller?.issuer === "string" && !Object.hasOwn(issuers, caller.issuer)) {
      problems.push({ path: ["callers", name, "issuer"], message: `unknown issuer "${caller.issuer}"` });
    }
    if (Array.isArray(caller?.providers)) {
      caller.providers.forEach((p: unknown, i: number) => {
        if (typeof p === "string" && !Object.hasOwn(providers, p)) {
          problems.push({ path: ["callers", name, "providers", i], message: `unknown provider "${p}"` });
        }
      });
    }
  }
  for (const [name, value] of Object.entries(providers)) {
    const provider = record(value);
    if (provider?.kind !== "http-token" || typeof provider.authProvider !== "string") continue;
    const auth = record(providers[provider.authProvider]);
    if (!Object.hasOwn(providers, provider.authProvider)) {
      problems.push({ path: ["providers", name, "authProvider"], message: `unknown provider "${provider.authProvider}"` });
    } else if (auth?.kind !== "api-key") {
      // Minting goes through the auth provider's headers directly, outside the token cache:
      // only a static key (no partner call of its own) keeps one upstream request per key.
      problems.push({ path: ["providers", name, "authProvider"], message: "must be an api-key provider" });
    }
  }
  return problems;
}

function rotationProblems(root: Record<string, unknown>): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const secrets = SecretsSchema.safeParse(root.secrets);
  // Two rotating providers on one key secret would share one journal under two locks.
  const rotatingSecrets = new Map<string, string>();
  for (const [name, value] of Object.entries(record(root.providers) ?? {})) {
    const provider = record(value);
    const rotation = record(provider?.rotation);
    if (provider?.kind !== "api-key" || !rotation) continue;
    const secret = record(provider.key)?.secret;
    if (typeof secret === "string") {
      // Key Vault secret names ignore case.
      const names = [secret, `${secret}-rotation`].map((n) => n.toLowerCase());
      const owner = names.map((n) => rotatingSecrets.get(n)).find((o) => o !== undefined);
      if (owner !== undefined) {
        problems.push({
          path: ["providers", name, "key", "secret"],
          message: `provider "${owner}" already rotates this secret or uses it as its journal; rotating providers need their own key secret`,
        });
      } else {
        for (const n of names) rotatingSecrets.set(n, name);
      }
    }
    if (rotation.mode !== "partner-api") continue;
    if (provider.scheme !== "basic" && typeof provider.scheme === "string") {
      // The partner key API is authenticated with the key itself, as Basic id:secret.
      problems.push({ path: ["providers", name, "rotation", "mode"], message: '"partner-api" rotation needs scheme "basic"' });
    }
    const cache = CachePolicySchema.safeParse(provider.cache);
    const grace = RotationSchema.shape.graceMinutes.safeParse(rotation.graceMinutes);
    if (!secrets.success || !cache.success || !grace.success) continue;
    // Callers may hold a served key for its whole lifetime, and another instance may keep reading
    // the old key secret from its cache for cacheTtlSec, or for maxStaleSec while the store fails
    // (stale-if-error): the old key must outlive all of that.
    const cachedSec = Math.max(secrets.data.cacheTtlSec, secrets.data.maxStaleSec);
    const servedSec = Math.min(cache.data.defaultTtlSec, cache.data.maxTtlSec) + cachedSec;
    if (grace.data * 60 < servedSec) {
      problems.push({
        path: ["providers", name, "rotation", "graceMinutes"],
        message: `must cover the time callers and instances may still use the old key (cache.defaultTtlSec + max(secrets.cacheTtlSec, secrets.maxStaleSec) = ${servedSec} s)`,
      });
    }
  }
  return problems;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
