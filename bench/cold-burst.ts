import { performance } from "node:perf_hooks";

export interface BurstFigures {
  requests: number;
  /** Responses with status 200. */
  ok: number;
  /** Count per HTTP status, plus "network_error" for requests that got no response. */
  statuses: Record<string, number>;
  /** From the first request sent to the last response read. */
  wallMs: number;
}

/**
 * Sends `count` identical GETs at once (one connection each: fetch opens as many as needed) and
 * waits for every answer. Bodies are read and dropped: they hold credentials, never print them.
 */
export function burst(url: string, headers: Record<string, string>, count: number): Promise<BurstFigures> {
  return burstAcross([url], headers, count);
}

/**
 * The same burst spread round-robin over several instances of a fleet (request i goes to
 * urls[i % urls.length]), all sent at once.
 */
export async function burstAcross(urls: readonly string[], headers: Record<string, string>, count: number): Promise<BurstFigures> {
  if (urls.length === 0) throw new Error("burstAcross: no target URL");
  const statuses: Record<string, number> = {};
  const count1 = (key: string) => (statuses[key] = (statuses[key] ?? 0) + 1);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      try {
        const response = await fetch(urls[i % urls.length]!, { headers });
        await response.arrayBuffer();
        count1(String(response.status));
      } catch {
        count1("network_error");
      }
    }),
  );
  const wallMs = performance.now() - started;
  return { requests: count, ok: statuses["200"] ?? 0, statuses, wallMs };
}
