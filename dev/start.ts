import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { startDemoEnvironment } from "./demo/environment.js";
import { serveFunctions } from "./host/serve-functions.js";
import { ensureDevTls, withDevCa } from "./tls.js";

/**
 * `npm start`: the whole product offline. Starts the sandbox partners (one HTTPS server), writes
 * their freshly generated credentials into a local secret store, and serves the same function
 * files Azure runs through the local Functions host. Nothing to set up beforehand.
 */
const tls = await ensureDevTls();
if (process.env.TOKEN_BROKER_DEV_CA !== tls.caFile) {
  // The Azure SDKs read NODE_EXTRA_CA_CERTS only at process start: re-run with the dev CA trusted.
  const child = spawn(process.execPath, process.argv.slice(1), {
    stdio: "inherit",
    env: { ...withDevCa(process.env, tls), TOKEN_BROKER_DEV_CA: tls.caFile },
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(signal ? 0 : (code ?? 1)));
} else {
  await main();
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 7071);
  const sandboxPort = Number(process.env.SANDBOX_PORT ?? 7443);
  // With BROKER_CONFIG (or BROKER_CONFIG_JSON) set, serve that configuration (and KEY_VAULT_URL,
  // REDIS_URL...) as given; otherwise the offline demo world.
  let demo: Awaited<ReturnType<typeof startDemoEnvironment>> | undefined;
  try {
    demo = process.env.BROKER_CONFIG || process.env.BROKER_CONFIG_JSON ? undefined : await startDemoEnvironment({ tls, workDir: resolve(".local", "demo"), sandboxPort });
  } catch (error) {
    process.stderr.write(`token broker did not start: ${startFailure(error, { port: sandboxPort, what: "sandbox partners", setting: "SANDBOX_PORT" })}\n`);
    process.exit(1);
  }
  if (demo) {
    process.env.BROKER_CONFIG = demo.configPath;
    Object.assign(process.env, demo.appSettings);
    delete process.env.KEY_VAULT_URL; // the demo always uses the local store
  }
  process.env.MAINTENANCE_SCHEDULE ??= "0 */5 * * * *";
  let host: Awaited<ReturnType<typeof serveFunctions>>;
  try {
    host = await serveFunctions(port, (line) => process.stdout.write(line + "\n"));
  } catch (error) {
    // A bad configuration names every bad field; print that, not a stack trace.
    process.stderr.write(`token broker did not start: ${startFailure(error, { port, what: "the broker", setting: "PORT" })}\n`);
    await demo?.close();
    process.exit(1);
  }

  const base = `http://127.0.0.1:${host.port}`;
  const lines = [
    "",
    `Token broker running at ${base}/api` + (demo ? `  (sandbox partners at ${demo.sandbox.url})` : ` with ${process.env.BROKER_CONFIG || "BROKER_CONFIG_JSON"}`),
    `Functions: ${host.functions.map((f) => f.name).join(", ")}`,
    "",
  ];
  if (demo) {
    lines.push(
      "Get a partner credential as the demo caller orders-service:",
      `  TOKEN=$(npm run -s caller-token -- orders-service)`,
      `  curl -s -H "Authorization: Bearer $TOKEN" ${base}/api/token/flowe`,
      "",
      "Other demo callers: payments-service (silverflow, silverflow-bearer, phixflow), ops-console (operator: /api/ops/...).",
    );
  }
  lines.push("Press Ctrl+C to stop.", "");
  process.stdout.write(lines.join("\n"));

  const stop = async () => {
    await host.close();
    await demo?.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

/** A port taken or refused is named with the setting that moves it; anything else by its message. */
function startFailure(error: unknown, listen: { port: number; what: string; setting: string }): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "EADDRINUSE") {
    return `port ${listen.port} (${listen.what}) is already in use. Stop what listens there, or choose another port: ${listen.setting}=<port> npm start`;
  }
  if (code === "EACCES") {
    return `port ${listen.port} (${listen.what}) may not be opened by this user. Choose another port: ${listen.setting}=<port> npm start`;
  }
  return error instanceof Error ? error.message : String(error);
}
