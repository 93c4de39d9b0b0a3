import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { TokenBrokerClient } from "@token-broker/client";
import { startDemoEnvironment } from "../dev/demo/environment.js";
import { spawnBrokerProcess } from "../dev/host/broker-process.js";
import { ensureDevTls, withDevCa } from "../dev/tls.js";

/**
 * `npm run bench:client`: the caller's side, against one broker process and the demo sandbox, side
 * by side in one run:
 *  (1) single-flight: 1,000 concurrent cold `getCredential` calls through one client vs 1,000
 *      plain GETs to the broker — broker requests, partner token requests, wall time;
 *  (2) a warm credential: `getCredential` from the client's cache vs a GET to the broker per use;
 *  (3) the rejected-credential path: the partner revokes the token, `client.fetch` sees the 401,
 *      reports, takes the replacement and retries — latency, partner calls, 401s per rejection —
 *      next to a plain `client.fetch` with a valid credential;
 *  (4) the package: `npm pack` size.
 * Prints a table, then one JSON line with every figure.
 */
const HERE = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const REJECTIONS = Number(process.env.BENCH_REJECTIONS ?? 20);
const CALLER = "orders-service";

const tls = await ensureDevTls();
if (process.env.BENCH_CLIENT_CHILD !== "1") {
  // The sandbox partners speak HTTPS with the dev CA, which Node reads only at start.
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], { stdio: "inherit", env: withDevCa({ ...process.env, BENCH_CLIENT_CHILD: "1" }, tls) });
  child.on("exit", (code) => process.exit(code ?? 1));
} else {
  await main();
}

async function main(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), "bench-client-"));
  const copies = Array.from({ length: ROUNDS * 2 }, (_, i) => `ayyeka-sf-${i}`);
  const env = await startDemoEnvironment({
    tls,
    workDir,
    issuerDir: join(workDir, "issuer"),
    edit: (raw) => {
      for (const name of [...copies, "ayyeka-warm", "ayyeka-rejected"]) {
        raw.providers[name] = { ...raw.providers.ayyeka };
        raw.callers[CALLER].providers.push(name);
      }
      raw.providers["ayyeka-rejected"].rejectedMinIntervalSec = 0;
    },
  });
  const broker = await spawnBrokerProcess(env.brokerSettings({ MAINTENANCE_SCHEDULE: "0 0 0 1 1 *", LOG_LEVEL: "warn" }));
  try {
    const jwt = await env.issuer.mint(CALLER);
    const sandbox = env.sandbox.ayyeka;
    let brokerRequests = 0;
    const newClient = () =>
      new TokenBrokerClient({
        url: broker.url,
        caller: () => jwt,
        fetch: (input, init) => {
          brokerRequests++;
          return fetch(input, init);
        },
      });
    const rawGet = async (provider: string) => {
      const res = await fetch(`${broker.url}/api/token/${provider}`, { headers: { authorization: `Bearer ${jwt}` } });
      if (res.status !== 200) throw new Error(`broker answered ${res.status}`);
      return res.json();
    };

    // (1) single-flight, interleaved client/raw per round, each on a cold provider.
    const sf = { client: [] as number[], raw: [] as number[], clientBroker: [] as number[], rawBroker: [] as number[], clientPartner: [] as number[], rawPartner: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const client = newClient();
      const before = brokerRequests;
      let partner = sandbox.tokenRequests;
      let t = performance.now();
      await Promise.all(Array.from({ length: 1000 }, () => client.getCredential(copies[2 * round]!)));
      sf.client.push(performance.now() - t);
      sf.clientBroker.push(brokerRequests - before);
      sf.clientPartner.push(sandbox.tokenRequests - partner);
      partner = sandbox.tokenRequests;
      t = performance.now();
      await Promise.all(Array.from({ length: 1000 }, () => rawGet(copies[2 * round + 1]!)));
      sf.raw.push(performance.now() - t);
      sf.rawBroker.push(1000);
      sf.rawPartner.push(sandbox.tokenRequests - partner);
    }

    // (2) a warm credential: the client's cache vs a broker round trip per use.
    const warm = newClient();
    await warm.getCredential("ayyeka-warm");
    const cachedOps = await opsPerSec(() => warm.getCredential("ayyeka-warm"), 200_000);
    const rawOps = await opsPerSec(() => rawGet("ayyeka-warm"), 2_000);

    // (3) the rejected-credential path vs a plain fetch with a valid credential.
    const site = `${env.sandbox.url}/ayyeka/v2.0/site`;
    const rejecting = newClient();
    await drain(await rejecting.fetch("ayyeka-rejected", site));
    const plain: number[] = [];
    const rejected: number[] = [];
    let partnerCalls = 0;
    let partner401s = 0;
    let failures = 0;
    for (let i = 0; i < REJECTIONS; i++) {
      let t = performance.now();
      await drain(await rejecting.fetch("ayyeka-rejected", site));
      plain.push(performance.now() - t);
      sandbox.revokeTokens();
      const tokens = sandbox.tokenRequests;
      const refused = sandbox.requests.siteRejected;
      t = performance.now();
      const res = await rejecting.fetch("ayyeka-rejected", site);
      rejected.push(performance.now() - t);
      if (res.status !== 200) failures++;
      await drain(res);
      partnerCalls += sandbox.tokenRequests - tokens;
      partner401s += sandbox.requests.siteRejected - refused;
    }

    // (4) the package.
    const packed = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts", resolve(HERE, "..", "..", "client")], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }))[0];

    const figures = {
      singleFlight: {
        calls: 1000,
        clientBrokerRequests: median(sf.clientBroker),
        rawBrokerRequests: median(sf.rawBroker),
        clientPartnerTokenRequests: median(sf.clientPartner),
        rawPartnerTokenRequests: median(sf.rawPartner),
        clientMs: median(sf.client),
        rawMs: median(sf.raw),
      },
      warm: { cachedGetCredentialPerSec: cachedOps, brokerGetPerSec: rawOps, ratio: cachedOps / rawOps },
      rejected: {
        rejections: REJECTIONS,
        failures,
        partnerTokenRequestsPerRejection: partnerCalls / REJECTIONS,
        partner401sPerRejection: partner401s / REJECTIONS,
        p50Ms: median(rejected),
        p95Ms: percentile(rejected, 0.95),
        plainFetchP50Ms: median(plain),
        ratio: median(rejected) / median(plain),
      },
      package: { packedBytes: packed.size, unpackedBytes: packed.unpackedSize, files: packed.files.length },
    };
    const f = figures;
    console.log(`client bench (${ROUNDS} rounds, medians)`);
    const row = (label: string, text: string) => console.log(`${label.padEnd(44)}${text}`);
    row("single-flight, 1000 concurrent cold calls", `client: ${f.singleFlight.clientBrokerRequests} broker request, ${f.singleFlight.clientMs.toFixed(0)} ms | plain GETs: ${f.singleFlight.rawBrokerRequests} broker requests, ${f.singleFlight.rawMs.toFixed(0)} ms | partner token requests ${f.singleFlight.clientPartnerTokenRequests} vs ${f.singleFlight.rawPartnerTokenRequests}`);
    row("warm credential", `client cache: ${f.warm.cachedGetCredentialPerSec.toFixed(0)}/s | GET to the broker: ${f.warm.brokerGetPerSec.toFixed(0)}/s | ${f.warm.ratio.toFixed(0)}x`);
    row(`rejected credential (${REJECTIONS} revocations)`, `401 -> report -> replacement -> retry: p50 ${f.rejected.p50Ms.toFixed(1)} ms, p95 ${f.rejected.p95Ms.toFixed(1)} ms | plain fetch p50 ${f.rejected.plainFetchP50Ms.toFixed(1)} ms | ${f.rejected.ratio.toFixed(1)}x; ${f.rejected.partnerTokenRequestsPerRejection} partner token request and ${f.rejected.partner401sPerRejection} partner 401 per rejection; ${failures} failed`);
    row("package", `${f.package.packedBytes} bytes packed, ${f.package.unpackedBytes} unpacked, ${f.package.files} files`);
    console.log(JSON.stringify(figures));
  } finally {
    await broker.stop();
    await env.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function opsPerSec(op: () => Promise<unknown>, count: number): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < count; i++) await op();
  return count / ((performance.now() - t) / 1000);
}

async function drain(res: Response): Promise<void> {
  await res.arrayBuffer();
}

function median(values: number[]): number {
  return percentile(values, 0.5);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}
