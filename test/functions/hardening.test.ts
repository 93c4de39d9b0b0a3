import assert from "node:assert/strict";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { systemClock } from "../../functions/system.js";
import { FileSecretStore } from "../../shared/secrets/file-store.js";
import { startDemoBroker, type DemoBroker } from "../support/demo-broker.js";

/**
 * End to end through the local Functions host, with dependencies that misbehave on purpose: a
 * caller-token issuer whose JWKS endpoint fails, a local secret store whose files are corrupted or
 * deleted, hostile provider names.
 */
const FLAKY_ISS = "https://flaky-issuer.test/v2.0";
const FLAKY_AUD = "api://token-broker-flaky";
const COOLDOWN_SEC = 2;

/** A loopback JWKS endpoint that counts requests and answers 500 while `failing`. */
class FlakyJwks {
  requests = 0;
  failing = false;
  keys: JWK[] = [];
  private server!: Server;
  url = "";
  async start(): Promise<void> {
    this.server = createServer((_req, res) => {
      this.requests++;
      if (this.failing) res.writeHead(500, { "content-type": "text/plain" }).end("down");
      else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: this.keys }));
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks`;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let demo: DemoBroker;
let jwks: FlakyJwks;
let signingKey: CryptoKey;
let foreignKey: CryptoKey;
let store: FileSecretStore;

async function flakyToken(azp: string, options: { kid?: string; key?: CryptoKey; jti?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ azp, jti: options.jti ?? `${azp}-${Math.random()}` })
    .setProtectedHeader({ alg: "RS256", kid: options.kid ?? "flaky-1" })
    .setIssuer(FLAKY_ISS)
    .setAudience(FLAKY_AUD)
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(options.key ?? signingKey);
}

async function call(path: string, token: string, method = "GET"): Promise<Response> {
  return fetch(demo.broker.url + path, { method, headers: { authorization: `Bearer ${token}` } });
}

/** Log lines written from `mark` on, once the batched sink has flushed (100 ms). */
async function linesSince(mark: number): Promise<string[]> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  return demo.broker.lines.slice(mark);
}

before(async () => {
  const pair = await generateKeyPair("RS256", { extractable: true });
  signingKey = pair.privateKey;
  foreignKey = (await generateKeyPair("RS256")).privateKey;
  jwks = new FlakyJwks();
  jwks.keys = [{ ...(await exportJWK(pair.publicKey)), kid: "flaky-1", alg: "RS256", use: "sig" }];
  await jwks.start();
  demo = await startDemoBroker({
    edit: (raw) => {
      raw.issuers.flaky = { issuer: FLAKY_ISS, audience: FLAKY_AUD, jwksUri: jwks.url, jwksCooldownSec: COOLDOWN_SEC };
      raw.providers["plain-key"] = { kind: "api-key", scheme: "header", key: { secret: "plain-key" } };
      raw.callers["flaky-svc"] = { issuer: "flaky", providers: ["plain-key"] };
      raw.callers["flaky-ops"] = { issuer: "flaky", roles: ["operator"] };
      raw.secrets.cacheTtlSec = 1;
    },
  });
  store = new FileSecretStore(demo.env.secretsDir, { clock: systemClock });
  await store.set("plain-key", "KEY-ONE");
  await store.set("plain-key", "KEY-TWO");
});

after(async () => {
  await demo?.close();
  await jwks?.close();
});

describe("caller-token issuer outage (JWKS answers 500)", () => {
  test("known keys keep working, an unknown-kid flood costs one fetch per cool-down and gets 401s, warnings collapse", async () => {
    const first = await call("/api/token/plain-key", await flakyToken("flaky-svc"));
    assert.equal(first.status, 200);
    jwks.failing = true;
    const mark = demo.broker.lines.length;
    const before = jwks.requests;
    const started = Date.now();
    const forged = await Promise.all(Array.from({ length: 200 }, (_, i) => flakyToken("flaky-svc", { kid: `forged-${i}`, key: foreignKey })));
    const statuses = await Promise.all(forged.map(async (t) => (await call("/api/token/plain-key", t)).status));
    const elapsedSec = (Date.now() - started) / 1000;
    assert.deepEqual([...new Set(statuses)], [401]);
    assert.ok(jwks.requests - before <= Math.ceil(elapsedSec / COOLDOWN_SEC) + 1, `${jwks.requests - before} JWKS fetches in ${elapsedSec.toFixed(1)} s`);
    // A fresh token signed with the known key is verified with the last good key set.
    assert.equal((await call("/api/token/plain-key", await flakyToken("flaky-svc"))).status, 200);
    const lines = await linesSince(mark);
    assert.ok(lines.filter((l) => l.includes('"caller_jwks_unavailable"')).length <= 1, "one warn line per interval");
    assert.equal(lines.filter((l) => l.includes('"token_denied"')).length, 200, "one line per rejected token");
    assert.equal(lines.filter((l) => l.includes('"caller_rejected"')).length, 0);
    jwks.failing = false;
  });
});

describe("echoed input", () => {
  test("operator routes echo no name that is not a provider's, in the problem or the log, and cap every logged field", async () => {
    const ops = await flakyToken("flaky-ops");
    const mark = demo.broker.lines.length;
    const hostile = ["<img src=x onerror=alert(1)>", "evil\r\nX-Injected: 1", "n".repeat(10_000), "ghost-provider"];
    for (const name of hostile) {
      for (const action of ["refresh", "rotate"]) {
        const res = await call(`/api/ops/providers/${encodeURIComponent(name)}/${action}`, ops, "POST");
        assert.equal(res.status, 404, `${action} ${name.slice(0, 20)}`);
        const body = (await res.json()) as { code: string; detail: string };
        assert.equal(body.code, "provider_not_found");
        assert.ok(!body.detail.includes(name.slice(0, 8)), body.detail);
        // Refused before the name is looked at: the audit line still names the route's target.
        assert.equal((await call(`/api/ops/providers/${encodeURIComponent(name)}/${action}`, "not-a-jwt", "POST")).status, 401);
      }
    }
    const lines = await linesSince(mark);
    assert.ok(lines.filter((l) => l.includes('"admin_action"')).length >= hostile.length * 2, lines.join("\n").slice(0, 500));
    for (const line of lines) {
      assert.ok(!line.includes("<img") && !line.includes("X-Injected") && !line.includes("ghost-provider") && !line.includes("nnnnnnnn"), line.slice(0, 200));
      assert.ok(line.length < 2048, `a ${line.length}-character log line`);
    }
  });

  test("host-level refusals are problem+json", async () => {
    const res = await fetch(`${demo.broker.url}/api/no-such-route`);
    assert.equal(res.status, 404);
    assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
    assert.equal(((await res.json()) as { code: string }).code, "route_not_found");
    const wrong = await fetch(`${demo.broker.url}/api/token/plain-key`, { method: "DELETE" });
    assert.equal(wrong.status, 405);
    assert.equal(((await wrong.json()) as { code: string }).code, "method_not_allowed");
  });
});

describe("local secret store faults", () => {
  test("a corrupt newest version keeps the value current before it (never the older one); a deleted directory is an outage", async () => {
    const token = await flakyToken("flaky-svc");
    const served = async () => {
      const res = await call("/api/token/plain-key", token);
      return { status: res.status, key: ((await res.json()) as { headers?: Record<string, string> }).headers?.Authorization };
    };
    assert.deepEqual(await served(), { status: 200, key: "KEY-TWO" });
    const dir = join(demo.env.secretsDir, "plain-key");
    const newest = readdirSync(dir).filter((f) => f.endsWith(".json")).sort().at(-1)!;
    writeFileSync(join(dir, newest), "{ corrupted by a bad disk");
    await new Promise((resolve) => setTimeout(resolve, 2500)); // past cacheTtlSec (1 s) and the 1 s version recheck
    assert.deepEqual(await served(), { status: 200, key: "KEY-TWO" }, "stale-if-error keeps the value read before");
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.deepEqual(await served(), { status: 200, key: "KEY-TWO" }, "never falls back to KEY-ONE");
    rmSync(dir, { recursive: true });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.deepEqual(await served(), { status: 200, key: "KEY-TWO" }, "a vanished secret directory is an outage: cached value kept");
  });
});
