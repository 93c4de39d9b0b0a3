import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemoEnvironment, type DemoEnvironment, type DemoEnvironmentOptions } from "../../dev/demo/environment.js";
import { spawnBrokerProcess, type BrokerProcess } from "../../dev/host/broker-process.js";
import { ensureDevTls } from "../../dev/tls.js";

export interface DemoBroker {
  env: DemoEnvironment;
  broker: BrokerProcess;
  /** GET/POST against the broker as a demo caller (a minted JWT) or with a raw Authorization header. */
  call(path: string, options?: { caller?: string; authorization?: string; method?: string }): Promise<Response>;
  close(): Promise<void>;
}

/**
 * A demo world (sandbox partners, caller issuer, config, local secret store) in a temp directory
 * and one broker process serving it through the local Functions host.
 */
export async function startDemoBroker(
  options: { edit?: DemoEnvironmentOptions["edit"]; appSettings?: Record<string, string> } = {},
): Promise<DemoBroker> {
  const tls = await ensureDevTls();
  const workDir = mkdtempSync(join(tmpdir(), "broker-e2e-"));
  const env = await startDemoEnvironment({ tls, workDir, issuerDir: join(workDir, "issuer"), edit: options.edit });
  let broker: BrokerProcess;
  try {
    broker = await spawnBrokerProcess(env.brokerSettings(options.appSettings));
  } catch (error) {
    await env.close();
    throw error;
  }
  const tokens = new Map<string, string>();
  return {
    env,
    broker,
    async call(path, { caller, authorization, method = "GET" } = {}) {
      const headers: Record<string, string> = {};
      if (caller) {
        let token = tokens.get(caller);
        if (!token) {
          token = await env.issuer.mint(caller);
          tokens.set(caller, token);
        }
        headers.authorization = `Bearer ${token}`;
      } else if (authorization !== undefined) {
        headers.authorization = authorization;
      }
      return fetch(broker.url + path, { method, headers });
    },
    async close() {
      await broker.stop();
      await env.close();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
