import autocannon from "autocannon";

export interface LoadOptions {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  pipelining: number;
  durationSec: number;
  /** Load applied first and thrown away (JIT, connection set-up, caches). */
  warmupSec: number;
  /** CPU ms used so far by the server process (see process-cpu.ts), read around the measured part. */
  serverCpuMs?: () => number | undefined;
}

/** What one autocannon run measured. Latencies in ms (autocannon records whole milliseconds). */
export interface LoadFigures {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  total2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationSec: number;
  /**
   * Bytes read per response, status line and headers included (autocannon's byte count ÷ responses):
   * shows whether two targets really move the same amount of data.
   */
  bytesPerResponse: number;
  /** Server CPU (user + system) during the measured part ÷ 2xx answers; undefined without /proc. */
  serverCpuUsPerRequest: number | undefined;
}

/**
 * One closed-loop autocannon run, after a warm-up run with the same settings. Every target gets
 * exactly the same generator settings, so only the server differs between two runs.
 */
export async function runLoad(options: LoadOptions): Promise<LoadFigures> {
  const run = (durationSec: number) =>
    autocannon({
      url: options.url,
      method: "GET",
      headers: options.headers ?? {},
      connections: options.connections,
      pipelining: options.pipelining,
      duration: durationSec,
      renderProgressBar: false,
      renderResultsTable: false,
      renderLatencyTable: false,
    });
  if (options.warmupSec > 0) await run(options.warmupSec);
  const cpuBefore = options.serverCpuMs?.();
  const result = await run(options.durationSec);
  const cpuAfter = options.serverCpuMs?.();
  const served = result["2xx"];
  return {
    reqPerSec: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    meanMs: result.latency.mean,
    total2xx: served,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationSec: result.duration,
    bytesPerResponse: result.requests.total > 0 ? Math.round(result.throughput.total / result.requests.total) : 0,
    serverCpuUsPerRequest:
      cpuBefore !== undefined && cpuAfter !== undefined && served > 0 ? Math.round(((cpuAfter - cpuBefore) * 1000) / served * 10) / 10 : undefined,
  };
}
