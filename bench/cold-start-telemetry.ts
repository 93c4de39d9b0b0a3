import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Cold start of the function app: a fresh process imports every function file (the composition
 * root included) with telemetry off and on, and optionally another build of the app (a baseline
 * checkout) with telemetry off, interleaved round by round so machine noise hits all alike.
 *
 *   npm run build && node dist/bench/cold-start-telemetry.js [--rounds 15] [--baseline <dir with dist/>]
 *
 * Telemetry "on" points the exporter at a dead loopback port: loading and wiring are measured, no
 * export happens during the load.
 */
const args = process.argv.slice(2);
const rounds = Number(flagValue("--rounds") ?? 15);
const baseline = flagValue("--baseline");
const here = dirname(fileURLToPath(import.meta.url));
const app = resolve(here, "..", "..");
const loader = join(here, "load-app.js");
const config = resolve(app, "dev", "demo", "broker.config.json");

const off = { BROKER_CONFIG: config, APPLICATIONINSIGHTS_CONNECTION_STRING: "", KEY_VAULT_URL: "", REDIS_URL: "" };
const on = {
  ...off,
  APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=${randomUUID()};IngestionEndpoint=https://127.0.0.1:9/`,
  TELEMETRY_INGESTION_ONLY: "true",
};
const variants: { name: string; dir: string; env: Record<string, string> }[] = [
  ...(baseline ? [{ name: "baseline, telemetry off", dir: resolve(baseline), env: off }] : []),
  { name: "this build, telemetry off", dir: app, env: off },
  { name: "this build, telemetry on", dir: app, env: on },
];

interface Sample {
  loadMs: number;
  sinceStartMs: number;
  heapMB: number;
}
const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
for (let round = 0; round < rounds; round++) {
  for (const v of variants) {
    const out = execFileSync(process.execPath, ["--no-warnings", "--expose-gc", loader, v.dir], {
      cwd: v.dir,
      env: { ...process.env, ...v.env },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const line = out.split("\n").find((l) => l.startsWith('{"coldStart":true'))!;
    samples.get(v.name)!.push(JSON.parse(line) as Sample);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const first = samples.get(variants[0]!.name)!;
console.log(`cold start: import of every function file (under the local host's functions-core), ${rounds} interleaved rounds (median; min-max)`);
for (const v of variants) {
  const s = samples.get(v.name)!;
  const load = s.map((x) => x.loadMs);
  const ratio = median(load) / median(first.map((x) => x.loadMs));
  console.log(
    `  ${v.name.padEnd(28)} load ${median(load).toFixed(1)} ms (${Math.min(...load).toFixed(1)}-${Math.max(...load).toFixed(1)})` +
      `  since process start ${median(s.map((x) => x.sinceStartMs)).toFixed(1)} ms  heap ${median(s.map((x) => x.heapMB)).toFixed(1)} MB` +
      `  x${ratio.toFixed(2)}`,
  );
}

function flagValue(flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}
