import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemoEnvironment, type DemoEnvironment } from "../dev/demo/environment.js";
import { spawnBrokerProcess } from "../dev/host/broker-process.js";
import { ensureDevTls, withDevCa } from "../dev/tls.js";

/**
 * `npm run bench:audit`: the audit volume (token_issued and token_issued_summary lines and bytes)
 * per 1,000 token requests, in both audit modes, through the local Functions host. The requests
 * are spread over every demo (caller, provider) grant; each mode gets a fresh broker, and a
 * graceful stop writes its pending summaries before the log is counted. The daily projection at
 * 1,000 requests/s uses the measured line sizes (see the printed formula).
 */
const HITS = Number(process.env.AUDIT_BENCH_HITS ?? 1000);
const CONCURRENCY = 10;
const REQUESTS_PER_DAY = 1000 * 86_400;
/** A credential renewed every 45 min (a 1-hour token refreshed at 75% of its life): a new first line per caller. */
const RENEWALS_PER_DAY = 32;

interface Volume {
  mode: string;
  hits: number;
  pairs: number;
  lines: number;
  bytes: number;
  firstLines: number;
  firstBytes: number;
  summaryLines: number;
  summaryBytes: number;
  accounted: number;
}

const progress = (text: string) => process.stderr.write(`# ${text}\n`);

const tls = await ensureDevTls();
const workDir = mkdtempSync(join(tmpdir(), "broker-audit-bench-"));
const results: Volume[] = [];
let env: DemoEnvironment | undefined;
try {
  for (const mode of ["per-hit", "summary"] as const) {
    env = await startDemoEnvironment({ tls, workDir, issuerDir: join(workDir, "issuer"), edit: (raw) => (raw.audit = { mode }) });
    results.push(await measure(env, mode));
    await env.close();
    env = undefined;
  }
  print(results);
} finally {
  await env?.close();
  rmSync(workDir, { recursive: true, force: true });
}

async function measure(demo: DemoEnvironment, mode: string): Promise<Volume> {
  const logFile = join(workDir, `broker-${mode}.log`);
  const broker = await spawnBrokerProcess(
    { ...withDevCa(process.env, tls), ...demo.brokerSettings({ MAINTENANCE_SCHEDULE: "0 0 0 1 1 *" }) },
    { logFile },
  );
  try {
    const grants = Object.entries(demo.config.callers).flatMap(([caller, c]) => c.providers.map((provider) => ({ caller, provider })));
    const tokens = new Map<string, string>();
    for (const { caller } of grants) if (!tokens.has(caller)) tokens.set(caller, await demo.issuer.mint(caller));
    progress(`${mode}: ${HITS} requests over ${grants.length} (caller, provider) grants`);
    let next = 0;
    const worker = async () => {
      while (next < HITS) {
        const { caller, provider } = grants[next++ % grants.length]!;
        const res = await fetch(`${broker.url}/api/token/${provider}`, { headers: { authorization: `Bearer ${tokens.get(caller)}` } });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${mode}: ${provider} for ${caller} answered ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    await broker.stop();
  }
  const lines = readFileSync(logFile, "utf8").split("\n");
  const first = lines.filter((l) => l.includes('"event":"token_issued"'));
  const summaries = lines.filter((l) => l.includes('"event":"token_issued_summary"'));
  const bytes = (ls: string[]) => ls.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  return {
    mode,
    hits: HITS,
    pairs: new Set(first.map((l) => JSON.parse(l).caller + " " + JSON.parse(l).provider)).size,
    lines: first.length + summaries.length,
    bytes: bytes(first) + bytes(summaries),
    firstLines: first.length,
    firstBytes: bytes(first),
    summaryLines: summaries.length,
    summaryBytes: bytes(summaries),
    accounted: first.length + summaries.reduce((n, l) => n + Number(JSON.parse(l).count), 0),
  };
}

function print(volumes: Volume[]): void {
  const per1000 = (v: Volume, n: number) => ((n * 1000) / v.hits).toFixed(1);
  const gb = (bytes: number) => (bytes / 1e9).toFixed(bytes >= 1e9 ? 1 : 3);
  const rows = volumes.map((v) => {
    let perDay: number;
    if (v.mode === "per-hit") {
      perDay = (v.bytes / v.hits) * REQUESTS_PER_DAY;
    } else {
      // Per (caller, provider): one summary per 60 s interval, plus a first line per renewed credential.
      const summaryLine = v.summaryBytes / Math.max(1, v.summaryLines);
      const firstLine = v.firstBytes / Math.max(1, v.firstLines);
      perDay = v.pairs * ((86_400 / 60) * summaryLine + RENEWALS_PER_DAY * firstLine);
    }
    return { ...v, perDay };
  });
  console.log("| audit mode | requests | audit lines | audit bytes | lines / 1,000 req | bytes / 1,000 req | issuances accounted | at 1,000 req/s, per day |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.mode} | ${r.hits} | ${r.lines} | ${r.bytes} | ${per1000(r, r.lines)} | ${per1000(r, r.bytes)} | ${r.accounted} | ${gb(r.perDay)} GB |`,
    );
  }
  console.log(
    `\nper day, per-hit: bytes per request x ${REQUESTS_PER_DAY.toLocaleString("en")}; summary (independent of the request rate): ` +
      `pairs x (1,440 summary lines + ${RENEWALS_PER_DAY} first lines per renewed credential), ${rows.find((r) => r.mode === "summary")?.pairs ?? 0} pairs here`,
  );
  console.log(JSON.stringify({ audit_volume: rows }));
}
