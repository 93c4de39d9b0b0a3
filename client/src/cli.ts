#!/usr/bin/env node
import { parseArgs } from "node:util";
import { callBroker, type FetchFunction } from "./broker-http.js";
import { callerAuthorization, type CallerAuth } from "./caller-auth.js";
import { TokenBrokerError } from "./errors.js";
import { formatStatusTable } from "./status-table.js";

const USAGE = `Usage: token-broker <command> [options]

Commands:
  status [--provider p] [--state s] [--json]   every provider's credential, circuit and rotation state
  refresh <provider>                           fetch a new credential now
  rotate <provider> [--dry-run]                rotate the provider's partner key now (or show the plan)
  token <provider>                             check that a credential is served (metadata only)

Options:
  --url <url>      broker base URL (default: $TOKEN_BROKER_URL)
  --scope <scope>  the broker's audience scope for DefaultAzureCredential (default: $TOKEN_BROKER_SCOPE)
  --json           print the broker's JSON answer

Authentication: the caller JWT in $TOKEN_BROKER_JWT when set, else DefaultAzureCredential
(@azure/identity, e.g. your Azure CLI login) for --scope.
Exit status: 0 on success; 1 with the problem code on stderr on failure; 2 on a usage error.`;

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  fetch?: FetchFunction;
}

/** Runs one command; returns the exit status. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: "string" },
        scope: { type: "string" },
        provider: { type: "string" },
        state: { type: "string" },
        json: { type: "boolean", default: false },
        "dry-run": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    io.stderr(`error: usage: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, provider, ...extra] = positionals;
  if (values.help || command === undefined) {
    (values.help ? io.stdout : io.stderr)(USAGE + "\n");
    return values.help ? 0 : 2;
  }
  const needsProvider = command === "refresh" || command === "rotate" || command === "token";
  if (!["status", "refresh", "rotate", "token"].includes(command) || (needsProvider && provider === undefined) || (!needsProvider && provider !== undefined) || extra.length > 0) {
    io.stderr(`error: usage\n${USAGE}\n`);
    return 2;
  }
  try {
    const base = values.url ?? io.env.TOKEN_BROKER_URL;
    if (!base) throw new TokenBrokerError("usage", "No broker URL: pass --url or set TOKEN_BROKER_URL.");
    const root = new URL(base.replace(/\/*$/, "/"));
    const caller = await operatorAuth(io.env, values.scope ?? io.env.TOKEN_BROKER_SCOPE);
    const call = async (method: "GET" | "POST", path: string, query: Record<string, string | undefined> = {}) => {
      const url = new URL(path, root);
      for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
      return callBroker({
        fetch: io.fetch ?? ((input, init) => globalThis.fetch(input, init)),
        url,
        method,
        authorization: await callerAuthorization(caller),
        timeoutMs: 60_000,
      });
    };
    const name = encodeURIComponent(provider ?? "");
    if (command === "status") {
      const status = await call("GET", "api/ops/status", { provider: values.provider, state: values.state });
      io.stdout(values.json ? JSON.stringify(status, null, 2) + "\n" : formatStatusTable(status));
    } else if (command === "refresh") {
      print(io, await call("POST", `api/ops/providers/${name}/refresh`), values.json);
    } else if (command === "rotate") {
      print(io, await call("POST", `api/ops/providers/${name}/rotate`, { dry_run: values["dry-run"] ? "true" : undefined }), values.json);
    } else {
      print(io, tokenSummary(await call("GET", `api/token/${name}`)), values.json);
    }
    return 0;
  } catch (error) {
    const e = error instanceof TokenBrokerError ? error : new TokenBrokerError("internal", "Unexpected failure.", { cause: error });
    io.stderr(`error: ${e.code}${e.status ? ` (${e.status})` : ""}: ${e.message}\n`);
    return e.code === "usage" ? 2 : 1;
  }
}

/** A caller JWT from the environment, else DefaultAzureCredential when @azure/identity is installed. */
async function operatorAuth(env: Record<string, string | undefined>, scope: string | undefined): Promise<CallerAuth> {
  const jwt = env.TOKEN_BROKER_JWT?.trim();
  if (jwt) return () => jwt;
  if (!scope) throw new TokenBrokerError("no_credentials", "Set TOKEN_BROKER_JWT, or pass --scope (TOKEN_BROKER_SCOPE) to sign in with DefaultAzureCredential.");
  let identity: { DefaultAzureCredential: new () => import("@azure/core-auth").TokenCredential };
  try {
    identity = (await import("@azure/identity" as string)) as typeof identity;
  } catch (error) {
    throw new TokenBrokerError("no_credentials", "Install @azure/identity to sign in with DefaultAzureCredential, or set TOKEN_BROKER_JWT.", { cause: error });
  }
  return { credential: new identity.DefaultAzureCredential(), scope };
}

/** `token` is a check, not a way to copy credentials: it prints metadata and header names only. */
function tokenSummary(body: unknown): Record<string, unknown> {
  const b = (body ?? {}) as Record<string, unknown>;
  return {
    provider: b.provider,
    token_type: b.token_type,
    scope: b.scope,
    fingerprint: b.fingerprint,
    expires_in: b.expires_in,
    expires_at: b.expires_at,
    headers: Object.keys((b.headers as object | undefined) ?? {}),
  };
}

function print(io: CliIo, value: unknown, json: boolean): void {
  if (json || typeof value !== "object" || value === null) {
    io.stdout(JSON.stringify(value, null, 2) + "\n");
    return;
  }
  const rows = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  const width = Math.max(...rows.map(([k]) => k.length));
  io.stdout(rows.map(([k, v]) => `${k.padEnd(width)}  ${typeof v === "object" ? JSON.stringify(v) : String(v)}`).join("\n") + "\n");
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === (await import("node:url")).pathToFileURL((await import("node:fs")).realpathSync(process.argv[1])).href;
if (invokedDirectly) {
  const code = await runCli(process.argv.slice(2), {
    env: process.env,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
  });
  process.exitCode = code;
}
