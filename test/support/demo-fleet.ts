import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemoEnvironment, type DemoEnvironment, type DemoEnvironmentOptions } from "../../dev/demo/environment.js";
import { spawnBrokerProcess, type BrokerProcess } from "../../dev/host/broker-process.js";
import { ensureDevTls } from "../../dev/tls.js";

/** A schedule that never fires during a test run, so only explicit invocations run the timer. */
const NEVER = "0 0 0 1 1 *";

export interface DemoFleet {
  env: DemoEnvironment;
  /** The live instance in each slot (a replaced one is swapped in place). */
  readonly instances: BrokerProcess[];
  /** Every process ever started, killed ones included: their log lines stay searchable. */
  readonly everyProcess: BrokerProcess[];
  /** Caller JWTs minted so far (canaries for the log checks). */
  readonly callerTokens: string[];
  /** `Bearer <caller JWT>`, minted once per caller. */
  authorization(caller: string): Promise<string>;
  /** A request to instance `index` as a demo caller. */
  call(index: number, path: string, options?: { caller?: string; method?: string }): Promise<Response>;
  /** Starts a new process in slot `index` (after its previous one was killed or stopped). */
  replace(index: number): Promise<BrokerProcess>;
  close(): Promise<void>;
}

export interface DemoFleetOptions {
  size: number;
  redisUrl: string;
  edit?: DemoEnvironmentOptions["edit"];
  appSettings?: Record<string, string>;
}

/**
 * N broker processes on ONE demo world (sandbox partners, caller issuer, config, local secret
 * store directory shared by all of them) with REDIS_URL set: a fleet as in Azure, on loopback.
 * The maintenance timer runs only when a test invokes it.
 */
export async function startDemoFleet(options: DemoFleetOptions): Promise<DemoFleet> {
  const tls = await ensureDevTls();
  const workDir = mkdtempSync(join(tmpdir(), "broker-fleet-"));
  const env = await startDemoEnvironment({ tls, workDir, issuerDir: join(workDir, "issuer"), edit: options.edit });
  const settings = env.brokerSettings({ REDIS_URL: options.redisUrl, MAINTENANCE_SCHEDULE: NEVER, ...options.appSettings });
  const instances: BrokerProcess[] = [];
  const everyProcess: BrokerProcess[] = [];
  const spawn = async () => {
    const broker = await spawnBrokerProcess(settings);
    everyProcess.push(broker);
    return broker;
  };
  const close = async () => {
    await Promise.all(everyProcess.map((b) => b.stop()));
    await env.close();
    rmSync(workDir, { recursive: true, force: true });
  };

  const started = await Promise.allSettled(Array.from({ length: options.size }, spawn));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await close();
    throw failed.reason;
  }
  for (const s of started) if (s.status === "fulfilled") instances.push(s.value);

  const tokens = new Map<string, string>();
  const callerTokens: string[] = [];
  const authorization = async (caller: string) => {
    let token = tokens.get(caller);
    if (!token) {
      token = await env.issuer.mint(caller);
      tokens.set(caller, token);
      callerTokens.push(token);
    }
    return `Bearer ${token}`;
  };

  return {
    env,
    instances,
    everyProcess,
    callerTokens,
    authorization,
    async call(index, path, { caller, method = "GET" } = {}) {
      const instance = instances[index];
      if (!instance) throw new Error(`no broker instance ${index}`);
      const headers: Record<string, string> = caller ? { authorization: await authorization(caller) } : {};
      return fetch(instance.url + path, { method, headers });
    },
    async replace(index) {
      const broker = await spawn();
      instances[index] = broker;
      return broker;
    },
    close,
  };
}
