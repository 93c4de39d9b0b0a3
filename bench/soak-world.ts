import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemoEnvironment, type DemoEnvironment } from "../dev/demo/environment.js";
import { spawnBrokerProcess, type BrokerProcess } from "../dev/host/broker-process.js";
import { ensureDevTls, withDevCa } from "../dev/tls.js";

/** A demo world (sandbox partners, caller issuer, config) and one broker process, on loopback. */
export interface SoakWorld {
  env: DemoEnvironment;
  broker: BrokerProcess;
  /** GET as a demo caller; the body is read and dropped (it may hold a credential). */
  get(path: string, caller: string): Promise<number>;
  /** Resident set size of the broker process now, and its peak so far (MB, from /proc). */
  memory(): { rssMb: number; peakMb: number } | undefined;
  close(): Promise<void>;
}

/** No timer run during a soak: it would add partner calls of its own. */
const QUIET_MAINTENANCE_SCHEDULE = "0 0 0 1 1 *";

export async function startSoakWorld(edit: (raw: Record<string, any>) => void): Promise<SoakWorld> {
  const tls = await ensureDevTls();
  const workDir = mkdtempSync(join(tmpdir(), "broker-soak-"));
  const env = await startDemoEnvironment({ tls, workDir, issuerDir: join(workDir, "issuer"), edit });
  let broker: BrokerProcess;
  try {
    broker = await spawnBrokerProcess(
      { ...withDevCa(process.env, tls), ...env.brokerSettings({ MAINTENANCE_SCHEDULE: QUIET_MAINTENANCE_SCHEDULE, LOG_LEVEL: "warn" }) },
      { logFile: join(workDir, "broker.log") },
    );
  } catch (error) {
    await env.close();
    throw error;
  }
  const tokens = new Map<string, string>();
  return {
    env,
    broker,
    async get(path, caller) {
      let token = tokens.get(caller);
      if (!token) {
        token = await env.issuer.mint(caller, { ttlSec: 3600 });
        tokens.set(caller, token);
      }
      const response = await fetch(broker.url + path, { headers: { authorization: `Bearer ${token}` } });
      await response.arrayBuffer();
      return response.status;
    },
    memory: () => memoryOf(broker.pid),
    async close() {
      await broker.stop();
      await env.close();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

function memoryOf(pid: number): { rssMb: number; peakMb: number } | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined; // no /proc (macOS, Windows)
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rssMb: round(kb("VmRSS") / 1024), peakMb: round(kb("VmHWM") / 1024) };
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
