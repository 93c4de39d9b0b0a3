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
export async function burst(url: string, headers: Record<string, string>, count: number): Promise<BurstFigures> {
  const statuses: Record<string, number> = {};
  const count1 = (key: string) => (statuses[key] = (statuses[key] ?? 0) + 1);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: count }, async () => {
      try {
        const response = await fetch(url, { headers });
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
