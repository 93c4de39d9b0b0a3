import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { startDemoEnvironment } from "../dev/demo/environment.js";
import { spawnBrokerProcess } from "../dev/host/broker-process.js";
import { ensureDevTls, withDevCa } from "../dev/tls.js";
import { systemClock } from "../functions/system.js";
import { FileSecretStore } from "../shared/secrets/file-store.js";

const ISS = "https://soak-issuer.test/v2.0";
const AUD = "api://token-broker-soak";
/** Bounds: the flood stops at whichever comes first. Loopback only. */
const FLOOD_SEC = Number(process.env.SOAK_ISSUER_SEC ?? 10);
const MAX_REQUESTS = Number(process.env.SOAK_ISSUER_MAX_REQUESTS ?? 50_000);
const CONCURRENCY = 50;
/** Distinct forged tokens (unknown kids), reused round-robin: rejected tokens are never cached. */
const FORGED_TOKENS = 500;

/**
 * A caller-token issuer outage under an unknown-kid flood, through the real path (a broker process
 * on the local Functions host): the issuer's JWKS endpoint answers 500 while callers send tokens
 * whose `kid` it never published. Measures how hard the broker then hits the issuer (JWKS fetches
 * per second; the configured cool-down allows one per jwksCooldownSec), what the flood gets, how
 * many warn lines it writes, and whether a correctly signed token is still served meanwhile.
 */
export async function soak(): Promise<{ name: string; figures: Record<string, string | number> }> {
  const workDir = mkdtempSync(join(tmpdir(), "soak-issuer-"));
  let jwksRequests = 0;
  let failing = false;
  const pair = await generateKeyPair("RS256", { extractable: true });
  const foreign = (await generateKeyPair("RS256")).privateKey;
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "soak-1", alg: "RS256", use: "sig" };
  const jwks = createServer((_req, res) => {
    jwksRequests++;
    if (failing) res.writeHead(500).end("down");
    else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;

  const tls = await ensureDevTls();
  const env = await startDemoEnvironment({
    tls,
    workDir,
    issuerDir: join(workDir, "issuer"),
    edit: (raw) => {
      raw.issuers.soak = { issuer: ISS, audience: AUD, jwksUri: jwksUrl };
      raw.providers["soak-key"] = { kind: "api-key", scheme: "header", key: { secret: "soak-key" } };
      raw.callers["soak-svc"] = { issuer: "soak", providers: ["soak-key"] };
    },
  });
  const cooldownSec = 5; // the IssuerSchema default, left unset above
  const logFile = join(workDir, "broker.log");
  const broker = await spawnBrokerProcess(
    { ...withDevCa(process.env, tls), ...env.brokerSettings({ MAINTENANCE_SCHEDULE: "0 0 0 1 1 *" }) },
    { logFile },
  ).catch(async (error: unknown) => {
    await env.close();
    throw error;
  });
  try {
    await new FileSecretStore(env.secretsDir, { clock: systemClock }).set("soak-key", "soak-key-value");
    const sign = (key: CryptoKey, kid: string, jti: string) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ azp: "soak-svc", jti })
        .setProtectedHeader({ alg: "RS256", kid })
        .setIssuer(ISS)
        .setAudience(AUD)
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(key);
    };
    const get = (token: string) =>
      fetch(`${broker.url}/api/token/soak-key`, { headers: { authorization: `Bearer ${token}` } }).then(async (res) => {
        await res.arrayBuffer();
        return res.status;
      });
    const warm = await get(await sign(pair.privateKey, "soak-1", "warm"));
    if (warm !== 200) throw new Error(`soak-issuer: the warm-up request got ${warm}`);
    const forged = await Promise.all(Array.from({ length: FORGED_TOKENS }, (_, i) => sign(foreign, `forged-${i}`, `f-${i}`)));

    failing = true;
    const before = jwksRequests;
    const statuses = new Map<number, number>();
    let sent = 0;
    const started = performance.now();
    const deadline = started + FLOOD_SEC * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline && sent < MAX_REQUESTS) {
          const status = await get(forged[sent++ % forged.length]!);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
    const elapsedSec = (performance.now() - started) / 1000;
    const fetches = jwksRequests - before;
    const fresh = await get(await sign(pair.privateKey, "soak-1", "fresh-during-outage"));
    await new Promise((resolve) => setTimeout(resolve, 300)); // the broker's log batch
    const warnLines = broker.lines.filter((l) => l.includes('"caller_jwks_unavailable"')).length;
    return {
      name: "caller-token issuer outage under an unknown-kid flood",
      figures: {
        flood_sec: Number(elapsedSec.toFixed(1)),
        requests: sent,
        requests_per_sec: Math.round(sent / elapsedSec),
        statuses: [...statuses].map(([s, n]) => `${s}:${n}`).join(" "),
        jwks_fetches: fetches,
        jwks_fetches_per_sec: Number((fetches / elapsedSec).toFixed(2)),
        jwks_fetches_allowed_per_sec: Number((1 / cooldownSec).toFixed(2)),
        caller_jwks_unavailable_lines: warnLines,
        fresh_valid_token_during_outage: fresh,
      },
    };
  } finally {
    failing = false;
    await broker.stop();
    await env.close();
    jwks.closeAllConnections();
    await new Promise<void>((resolve) => jwks.close(() => resolve()));
    rmSync(workDir, { recursive: true, force: true });
  }
}

