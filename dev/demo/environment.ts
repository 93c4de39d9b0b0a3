import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../../shared/config/load.js";
import type { BrokerConfig } from "../../shared/config/schema.js";
import { FileSecretStore } from "../../shared/secrets/file-store.js";
import { systemClock } from "../../functions/system.js";
import { LocalCallerIssuer } from "../caller-issuer.js";
import { startSandbox } from "../sandbox/sandbox.js";
import type { DevTls } from "../tls.js";

/** The sandbox origin written in the committed demo config. */
export const DEMO_SANDBOX_ORIGIN = "https://127.0.0.1:7443";

export const DEMO_CONFIG_FILE = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "dev", "demo", "broker.config.json");

export interface DemoEnvironment {
  sandbox: Awaited<ReturnType<typeof startSandbox>>;
  issuer: LocalCallerIssuer;
  configPath: string;
  config: BrokerConfig;
  secretsDir: string;
  /**
   * App settings the broker process needs besides BROKER_CONFIG: the managed identity endpoint
   * (served by the sandbox, as the Functions host serves IDENTITY_ENDPOINT in Azure).
   */
  appSettings: Record<string, string>;
  /**
   * The app settings of a broker process serving this world: its configuration, the app settings
   * above, the local secret store (no KEY_VAULT_URL) and no Redis, then `extra` on top.
   */
  brokerSettings(extra?: Record<string, string | undefined>): Record<string, string | undefined>;
  close(): Promise<void>;
}

export interface DemoEnvironmentOptions {
  tls: DevTls;
  /** Where the generated config and the local secret store go. Wiped secrets on every start. */
  workDir: string;
  sandboxPort?: number;
  issuerDir?: string;
  /** Edit the raw demo config before it is written (tests: shorter lifetimes, extra providers...). */
  // biome-ignore lint/suspicious/noExplicitAny: edits the raw config JSON before the schema has typed it.
  edit?: (raw: Record<string, any>) => void;
}

/**
 * The demo world: sandbox partners on one HTTPS port, the local caller issuer, the demo config
 * pointed at the sandbox, and a fresh local secret store holding the sandbox's credentials.
 * Used by `npm start`, the end-to-end and fleet tests, and the benchmark.
 */
export async function startDemoEnvironment(options: DemoEnvironmentOptions): Promise<DemoEnvironment> {
  const issuer = await LocalCallerIssuer.load(options.issuerDir);
  const sandbox = await startSandbox({ tls: options.tls, port: options.sandboxPort ?? 0, issuer });
  try {
    const secretsDir = resolve(options.workDir, "secrets");
    const raw = JSON.parse(readFileSync(DEMO_CONFIG_FILE, "utf8").split(DEMO_SANDBOX_ORIGIN).join(sandbox.url));
    raw.$schema = resolve(dirname(DEMO_CONFIG_FILE), "..", "..", "broker.config.schema.json");
    raw.secrets = { ...raw.secrets, localDir: secretsDir };
    options.edit?.(raw);
    mkdirSync(options.workDir, { recursive: true });
    const configPath = join(options.workDir, "broker.config.json");
    const text = JSON.stringify(raw, null, 2);
    const config = parseConfig(text, configPath);
    writeFileSync(configPath, text);

    rmSync(secretsDir, { recursive: true, force: true });
    const store = new FileSecretStore(secretsDir, { clock: systemClock });
    for (const [name, value] of Object.entries(sandbox.secrets)) await store.set(name, value, { source: "sandbox" });

    const appSettings = sandbox.authority.managedIdentityEnv();
    const brokerSettings = (extra: Record<string, string | undefined> = {}) => ({
      ...appSettings,
      BROKER_CONFIG: configPath,
      KEY_VAULT_URL: "",
      REDIS_URL: "",
      ...extra,
    });
    return { sandbox, issuer, configPath, config, secretsDir, appSettings, brokerSettings, close: () => sandbox.close() };
  } catch (error) {
    await sandbox.close();
    throw error;
  }
}
