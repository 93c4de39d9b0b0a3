import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import {
  CALLER_ISSUER_JWKS_PATH,
  DEMO_AUDIENCE,
  DEMO_ISSUER,
  LocalCallerIssuer,
} from "../../dev/caller-issuer.js";
import { serveHandlers } from "../../dev/sandbox/serve.js";
import { ensureDevTls } from "../../dev/tls.js";
import { CallerVerifier } from "../../shared/callers/caller-verifier.js";
import { IssuerSchema } from "../../shared/config/caller-schema.js";
import { MemoryLogger } from "../../shared/log/logger.js";
import { systemClock, systemSleeper } from "../../functions/system.js";

const root = mkdtempSync(join(tmpdir(), "caller-issuer-"));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
function freshDir(): string {
  return join(root, `case-${++dirs}`);
}

// RSA key generation costs a few hundred ms: tests that do not test creation share one issuer.
const sharedDir = join(root, "shared-issuer");
let shared: LocalCallerIssuer;
before(async () => {
  shared = await LocalCallerIssuer.load(sharedDir);
});

async function verifyWith(issuer: LocalCallerIssuer, token: string, options: { issuer?: string; audience?: string } = {}) {
  return jwtVerify(token, createLocalJWKSet(issuer.jwks()), {
    issuer: options.issuer ?? DEMO_ISSUER,
    audience: options.audience ?? DEMO_AUDIENCE,
    algorithms: ["RS256"],
    requiredClaims: ["exp"],
  });
}

describe("LocalCallerIssuer", () => {
  test("creates an RS256 key pair readable only by the owner and reuses it on the next load", async () => {
    const dir = join(freshDir(), "issuer");
    const first = await LocalCallerIssuer.load(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, "signing-key.json")).mode & 0o777, 0o600);
    const second = await LocalCallerIssuer.load(dir);
    assert.equal(second.kid, first.kid);
    const token = await first.mint("orders");
    assert.equal((await verifyWith(second, token)).payload.azp, "orders");
  });

  test("publishes only the public key, with its kid", async () => {
    const issuer = shared;
    const { keys } = issuer.jwks();
    assert.equal(keys.length, 1);
    const [key] = keys;
    assert.deepEqual(Object.keys(key ?? {}).sort(), ["alg", "e", "kid", "kty", "n", "use"]);
    assert.equal(key?.kid, issuer.kid);
    assert.equal(key?.alg, "RS256");
  });

  test("mints tokens with azp, sub, iat, exp and jti for the demo issuer and audience", async () => {
    const issuer = shared;
    const token = await issuer.mint("orders");
    const { payload, protectedHeader } = await verifyWith(issuer, token);
    assert.equal(protectedHeader.alg, "RS256");
    assert.equal(protectedHeader.kid, issuer.kid);
    assert.equal(payload.azp, "orders");
    assert.equal(payload.sub, "orders");
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 3600);
    assert.ok(Math.abs((payload.iat ?? 0) - Date.now() / 1000) < 60);
    assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
    assert.notEqual(decodeJwt(await issuer.mint("orders")).jti, payload.jti);
  });

  test("mint honours ttl, audience, issuer, issue time and extra claims", async () => {
    const issuer = shared;
    const now = Date.UTC(2026, 10, 23, 12, 0, 0);
    const token = await issuer.mint("svc", {
      ttlSec: 60,
      audience: "api://other",
      issuer: "https://elsewhere.test/",
      claims: { appid: "svc-app", roles: ["reader"] },
      now,
    });
    const claims = decodeJwt(token);
    assert.equal(claims.iss, "https://elsewhere.test/");
    assert.equal(claims.aud, "api://other");
    assert.equal(claims.iat, now / 1000);
    assert.equal(claims.exp, now / 1000 + 60);
    assert.equal(claims.appid, "svc-app");
    assert.deepEqual(claims.roles, ["reader"]);
    assert.equal(decodeProtectedHeader(token).kid, issuer.kid);
  });

  test("refuses a corrupt key file without quoting its content", async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    const canary = `CANARY-${randomBytes(8).toString("hex")}`;
    writeFileSync(join(dir, "signing-key.json"), JSON.stringify({ kty: "RSA", d: canary }));
    await assert.rejects(LocalCallerIssuer.load(dir), (error: Error) => {
      assert.ok(!error.message.includes(canary));
      assert.match(error.message, /signing-key\.json/);
      return true;
    });
  });

  test("serves its JWKS on the sandbox HTTPS server, and the broker's verifier accepts its tokens", async () => {
    const issuer = shared;
    const served = await serveHandlers([issuer.handler], { tls: await ensureDevTls() });
    try {
      const response = await fetch(`${served.url}${CALLER_ISSUER_JWKS_PATH}`);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), issuer.jwks());
      assert.equal((await fetch(`${served.url}${CALLER_ISSUER_JWKS_PATH}`, { method: "POST" })).status, 405);
      assert.equal((await fetch(`${served.url}/caller-issuer/other`)).status, 404);

      const verifier = new CallerVerifier(
        { demo: IssuerSchema.parse({ issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE, jwksUri: `${served.url}${CALLER_ISSUER_JWKS_PATH}` }) },
        { clock: systemClock, sleeper: systemSleeper, fetch: (url, init) => fetch(url, init), logger: new MemoryLogger(), cacheSize: 10 },
      );
      const verified = await verifier.verify(`Bearer ${await issuer.mint("orders")}`);
      assert.equal(verified.issuer, "demo");
      assert.equal(verified.id, "orders");
    } finally {
      await served.close();
    }
  });
});

describe("caller-token CLI", () => {
  const script = fileURLToPath(new URL("../../dev/caller-token.js", import.meta.url));

  /** A repo-root-like directory whose .local/issuer already holds the shared key (as after `npm start`). */
  function workspace(config?: unknown): string {
    const cwd = freshDir();
    mkdirSync(join(cwd, "dev", "demo"), { recursive: true });
    mkdirSync(join(cwd, ".local", "issuer"), { recursive: true, mode: 0o700 });
    copyFileSync(join(sharedDir, "signing-key.json"), join(cwd, ".local", "issuer", "signing-key.json"));
    if (config !== undefined) writeFileSync(join(cwd, "dev", "demo", "broker.config.json"), JSON.stringify(config));
    return cwd;
  }

  function run(cwd: string, ...args: string[]) {
    return spawnSync(process.execPath, [script, ...args], { cwd, encoding: "utf8", timeout: 20_000 });
  }

  const demoConfig = {
    issuers: { demo: { issuer: DEMO_ISSUER, audience: [DEMO_AUDIENCE, "api://second"], jwksUri: "https://127.0.0.1:1/caller-issuer/jwks" } },
    callers: {
      orders: { issuer: "demo", providers: [] },
      billing: { issuer: "demo", id: "svc-billing", providers: [] },
    },
  };

  test("prints only the JWT and a newline, minted for the caller's id with the shared issuer key", async () => {
    const cwd = workspace(demoConfig);
    const result = run(cwd, "billing");
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const { payload } = await verifyWith(shared, result.stdout.trim());
    assert.equal(payload.azp, "svc-billing");
    assert.equal(payload.aud, DEMO_AUDIENCE);

    const byId = run(cwd, "svc-billing");
    assert.equal(byId.status, 0, byId.stderr);
    assert.equal(decodeJwt(byId.stdout.trim()).azp, "svc-billing");
  });

  test("exits 2 and lists the known callers when the caller is unknown", () => {
    const result = run(workspace(demoConfig), "stranger");
    assert.equal(result.status, 2);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /unknown caller "stranger"/);
    assert.match(result.stderr, /orders/);
    assert.match(result.stderr, /billing \(id svc-billing\)/);
  });

  test("exits 2 with usage and the known callers when no caller is given", () => {
    const result = run(workspace(demoConfig));
    assert.equal(result.status, 2);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /usage: npm run caller-token -- <caller>/);
    assert.match(result.stderr, /orders/);
  });

  test("without a demo configuration, mints for the given id with the demo issuer and audience", async () => {
    const result = run(workspace(), "adhoc");
    assert.equal(result.status, 0, result.stderr);
    const { payload } = await verifyWith(shared, result.stdout.trim());
    assert.equal(payload.azp, "adhoc");
  });

  test("creates the issuer key when .local/issuer does not exist yet", async () => {
    const cwd = freshDir();
    mkdirSync(cwd);
    const result = run(cwd, "adhoc");
    assert.equal(result.status, 0, result.stderr);
    const created = await LocalCallerIssuer.load(join(cwd, ".local", "issuer"));
    assert.equal((await verifyWith(created, result.stdout.trim())).payload.azp, "adhoc");
  });
});
