import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { startDemoEnvironment, type DemoEnvironment } from "../dev/demo/environment.js";
import { spawnBrokerProcess, type BrokerProcess } from "../dev/host/broker-process.js";
import { redisServerAvailable, startRedisServer, type RedisServer } from "../dev/redis-server.js";
import { ensureDevTls, withDevCa } from "../dev/tls.js";

/**
 * `npm run bench:status`: size and time of GET /api/ops/status for a configuration of 10,000
 * providers (STATUS_BENCH_PROVIDERS), through the local Functions host: the full list, the
 * default (counts per state), a state filter and a provider filter; then, with redis-server on
 * PATH, the same broker with Redis on (fleet scope) and the size of its heartbeat in Redis.
 * A few providers are warmed first so that the status has valid tokens to show.
 */
const PROVIDERS = Number(process.env.STATUS_BENCH_PROVIDERS ?? 10_000);
const WARM = 100;
const SAMPLES = 9;
const CALLER = "orders-service";
const HEARTBEAT_SEC = 2;

const progress = (text: string) => process.stderr.write(`# ${text}\n`);
const name = (i: number) => `p-${String(i).padStart(5, "0")}`;

const tls = await ensureDevTls();
const workDir = mkdtempSync(join(tmpdir(), "broker-status-bench-"));
let env: DemoEnvironment | undefined;
let redis: RedisServer | undefined;
const rows: Record<string, unknown>[] = [];
try {
  env = await startDemoEnvironment({
    tls,
    workDir,
    issuerDir: join(workDir, "issuer"),
    edit: (raw) => {
      const template = { ...raw.providers.ayyeka };
      delete template.prewarm;
      for (let i = 0; i < PROVIDERS; i++) raw.providers[name(i)] = template;
      raw.callers[CALLER].providers.push(...Array.from({ length: WARM }, (_, i) => name(i)));
      // Short enough that the heartbeat read at the end shows the warmed providers.
      raw.status = { heartbeatSec: HEARTBEAT_SEC, staleAfterSec: 3 * HEARTBEAT_SEC };
    },
  });
  const configured = Object.keys(env.config.providers).length;
  progress(`${configured} providers configured`);
  await measure(env, "no Redis", "");
  if (redisServerAvailable()) {
    redis = await startRedisServer();
    await measure(env, "Redis on", redis.url);
  } else {
    progress("redis-server not on PATH: the Redis run is skipped");
  }
  print(configured);
} finally {
  await redis?.stop();
  await env?.close();
  rmSync(workDir, { recursive: true, force: true });
}

async function measure(demo: DemoEnvironment, label: string, redisUrl: string): Promise<void> {
  const started = Date.now();
  const broker = await spawnBrokerProcess(
    { ...withDevCa(process.env, tls), ...demo.brokerSettings({ REDIS_URL: redisUrl, MAINTENANCE_SCHEDULE: "0 0 0 1 1 *" }) },
    { logFile: join(workDir, `broker-${label.replace(/\W/g, "-")}.log`) },
  );
  try {
    progress(`${label}: broker listening after ${Date.now() - started} ms; warming ${WARM} providers`);
    const caller = `Bearer ${await demo.issuer.mint(CALLER)}`;
    for (let i = 0; i < WARM; i++) {
      const res = await fetch(`${broker.url}/api/token/${name(i)}`, { headers: { authorization: caller } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`warming ${name(i)}: ${res.status}`);
    }
    const ops = `Bearer ${await demo.issuer.mint("ops-console")}`;
    const variants: [string, string][] = [
      ["full list (?view=full)", "?view=full"],
      ["default (no parameter)", ""],
      ["?state=needs_attention", "?state=needs_attention"],
      ["?state=valid", "?state=valid"],
      [`?provider=${name(42)}`, `?provider=${name(42)}`],
    ];
    for (const [what, query] of variants) {
      progress(`${label}: ${what}`);
      rows.push({ run: label, request: what, ...(await sample(broker, query, ops)) });
    }
    if (redisUrl) {
      await new Promise((r) => setTimeout(r, HEARTBEAT_SEC * 1000 + 500));
      rows.push({ run: label, request: `heartbeat in Redis (one instance, ${WARM} warm providers)`, bytes: await heartbeatBytes(redisUrl) });
    }
  } finally {
    await broker.stop();
  }
}

async function sample(broker: BrokerProcess, query: string, authorization: string) {
  const times: number[] = [];
  let bytes = 0;
  let scope = "";
  let view = "";
  for (let i = 0; i < SAMPLES + 2; i++) {
    const t0 = performance.now();
    const res = await fetch(`${broker.url}/api/ops/status${query}`, { headers: { authorization } });
    const body = Buffer.from(await res.arrayBuffer());
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`status${query}: ${res.status}`);
    if (i >= 2) times.push(ms);
    bytes = body.length;
    const parsed = JSON.parse(body.toString("utf8")) as { scope?: string; view?: string };
    scope = parsed.scope ?? "(none)";
    view = parsed.view ?? "(none)";
  }
  times.sort((a, b) => a - b);
  return { bytes, median_ms: round(times[Math.floor(times.length / 2)]!), min_ms: round(times[0]!), scope, view };
}

async function heartbeatBytes(url: string): Promise<number> {
  const client = createClient({ url });
  await client.connect();
  try {
    let largest = 0;
    for await (const batch of client.scanIterator({ MATCH: "broker:{heartbeats}:*", COUNT: 100 })) {
      for (const key of batch) if ((await client.type(key)) === "string") largest = Math.max(largest, Buffer.byteLength((await client.get(key)) ?? ""));
    }
    return largest;
  } finally {
    client.destroy();
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function print(configured: number): void {
  console.log(`GET /api/ops/status, ${configured} providers (${WARM} with a valid token), median of ${SAMPLES} sequential requests:\n`);
  console.log("| run | request | bytes | median ms | min ms | scope | view |");
  console.log("|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.run} | ${r.request} | ${r.bytes} | ${r.median_ms ?? ""} | ${r.min_ms ?? ""} | ${r.scope ?? ""} | ${r.view ?? ""} |`);
  console.log(JSON.stringify({ status_scale: rows }));
}
