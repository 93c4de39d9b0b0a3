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
  const env = await startDemoEnvironment({
    tls,
    workDir: resolve(".local", "demo"),
    sandboxPort: Number(process.env.SANDBOX_PORT ?? 7443),
  });
  process.env.BROKER_CONFIG = env.configPath;
  delete process.env.KEY_VAULT_URL; // the demo always uses the local store
  process.env.MAINTENANCE_SCHEDULE ??= "0 */5 * * * *";
  const host = await serveFunctions(port, (line) => process.stdout.write(line + "\n"));

  const base = `http://127.0.0.1:${host.port}`;
  process.stdout.write(
    [
      "",
      `Token broker running at ${base}/api  (sandbox partners at ${env.sandbox.url})`,
      `Functions: ${host.functions.map((f) => f.name).join(", ")}`,
      "",
      "Get a partner credential as the demo caller orders-service:",
      `  TOKEN=$(npm run -s caller-token -- orders-service)`,
      `  curl -s -H "Authorization: Bearer $TOKEN" ${base}/api/token/flowe`,
      "",
      "Other demo callers: payments-service (silverflow, silverflow-bearer, phixflow), ops-console (operator: /api/admin/...).",
      "Press Ctrl+C to stop.",
      "",
    ].join("\n"),
  );

  const stop = async () => {
    await host.close();
    await env.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
