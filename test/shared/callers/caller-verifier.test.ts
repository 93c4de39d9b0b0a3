import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { base64url, exportSPKI } from "jose";
import { rsaTestKeyPair } from "../../support/test-keys.js";
import type { BrokerError } from "../../../shared/errors/broker-error.js";
import {
  assertRejected,
  AUDIENCE,
  CANARY,
  clock,
  foreign,
  ISSUER,
  issuerConfig,
  jwks,
  JwksServer,
  logger,
  otherIssuerKey,
  otherJwks,
  publicJwk,
  sign,
  signing,
  until,
  useCallerTokens,
  verifier,
} from "./caller-token-harness.js";

useCallerTokens();

describe("CallerVerifier: valid tokens", () => {
  test("identifies the caller by azp, then appid, then sub", async () => {
    const v = verifier();
    const both = await v.verify(`Bearer ${await sign({ claims: { azp: "svc-azp", appid: "svc-appid", sub: "svc-sub" } })}`);
    assert.deepEqual(both, { issuer: "corp", id: "svc-azp", expiresAt: (Math.floor(clock.now() / 1000) + 600) * 1000 });
    const appid = await v.verify(`Bearer ${await sign({ claims: { azp: undefined, appid: "svc-appid", sub: "svc-sub" } })}`);
    assert.equal(appid.id, "svc-appid");
    const sub = await v.verify(`Bearer ${await sign({ claims: { azp: undefined, sub: "svc-sub" } })}`);
    assert.equal(sub.id, "svc-sub");
  });

  test("accepts the Bearer scheme in any letter case", async () => {
    const v = verifier();
    const token = await sign();
    assert.equal((await v.verify(`bearer ${token}`)).id, "orders");
    assert.equal((await v.verify(`BEARER ${await sign()}`)).id, "orders");
  });

  test("accepts any of several configured audiences", async () => {
    const v = verifier({ corp: issuerConfig({ audience: ["api://first", AUDIENCE] }) });
    assert.equal((await v.verify(`Bearer ${await sign()}`)).id, "orders");
  });

  test("picks the issuer whose iss matches exactly and verifies with that issuer's keys only", async () => {
    const other = "https://idp.test/tenant-b/v2.0";
    const v = verifier({ corp: issuerConfig(), partner: issuerConfig({ issuer: other, jwksUri: otherJwks.url }) });
    const fromB = await sign({ claims: { iss: other, azp: "svc-b" }, key: otherIssuerKey.privateKey, kid: "o1" });
    assert.deepEqual(await v.verify(`Bearer ${fromB}`), { issuer: "partner", id: "svc-b", expiresAt: (Math.floor(clock.now() / 1000) + 600) * 1000 });
    // Issuer A's key claiming to be issuer B: B's JWKS has no such key.
    const forged = await sign({ claims: { iss: other }, kid: "k1" });
    await assertRejected(v, `Bearer ${forged}`, "caller_unauthenticated", "signature invalid");
  });

  test("accepts a token that expired within the clock tolerance but does not cache it", async () => {
    const v = verifier();
    const token = await sign({ claims: { exp: Math.floor(clock.now() / 1000) - 10 } });
    await v.verify(`Bearer ${token}`);
    await v.verify(`Bearer ${token}`);
    assert.equal(v.signatureChecks, 2);
  });
});


describe("CallerVerifier: rejected tokens", () => {
  test("rejects a token that expired beyond the clock tolerance", async () => {
    const v = verifier();
    const token = await sign({ claims: { iat: Math.floor(clock.now() / 1000) - 3600, exp: Math.floor(clock.now() / 1000) - 31 } });
    await assertRejected(v, `Bearer ${token}`, "caller_unauthenticated", "token expired");
  });

  test("rejects a token that is not yet valid", async () => {
    const v = verifier();
    const token = await sign({ claims: { nbf: Math.floor(clock.now() / 1000) + 120 } });
    await assertRejected(v, `Bearer ${token}`, "caller_unauthenticated", "token not yet valid");
  });

  test("rejects a token from an issuer that is not configured, without fetching anything", async () => {
    const v = verifier();
    for (const iss of ["https://evil.test/", `${ISSUER}/`, ISSUER.toUpperCase(), undefined]) {
      await assertRejected(v, `Bearer ${await sign({ claims: { iss } })}`, "caller_unauthenticated", "issuer not trusted");
    }
    assert.equal(jwks.requests, 0);
  });

  test("rejects a token for another audience", async () => {
    const v = verifier();
    await assertRejected(v, `Bearer ${await sign({ claims: { aud: "api://someone-else" } })}`, "caller_unauthenticated", "audience not accepted");
    await assertRejected(v, `Bearer ${await sign({ claims: { aud: undefined } })}`, "caller_unauthenticated", "audience not accepted");
  });

  test('rejects an unsigned alg "none" token crafted by hand', async () => {
    const v = verifier();
    const now = Math.floor(clock.now() / 1000);
    const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
    const payload = encode({ iss: ISSUER, aud: AUDIENCE, azp: "orders", exp: now + 600, canary: CANARY });
    for (const alg of ["none", "None", "NONE"]) {
      const unsigned = `${encode({ alg, typ: "JWT", kid: "k1" })}.${payload}.`;
      await assertRejected(v, `Bearer ${unsigned}`, "caller_unauthenticated", "algorithm not allowed");
    }
    const none = `${encode({ alg: "none", typ: "JWT" })}.${payload}.`;
    await assertRejected(v, `Bearer ${none}`, "caller_unauthenticated", "algorithm not allowed");
    assert.equal(jwks.requests, 0);
  });

  test("rejects HS256 tokens, including one keyed with the issuer's public key (algorithm confusion)", async () => {
    const v = verifier();
    const pem = await exportSPKI(signing.publicKey);
    const secrets = [
      randomBytes(32),
      new TextEncoder().encode(pem),
      new TextEncoder().encode(JSON.stringify(await publicJwk(signing, "k1"))),
    ];
    for (const secret of secrets) {
      const token = await sign({ alg: "HS256", key: secret });
      await assertRejected(v, `Bearer ${token}`, "caller_unauthenticated", "algorithm not allowed");
    }
    assert.equal(jwks.requests, 0);
  });

  test("rejects a token without exp", async () => {
    const v = verifier();
    await assertRejected(v, `Bearer ${await sign({ claims: { exp: undefined } })}`, "caller_unauthenticated", "token has no valid expiry");
  });

  test("rejects a token signed by a foreign key that reuses the issuer's kid", async () => {
    const v = verifier();
    await assertRejected(v, `Bearer ${await sign({ key: foreign.privateKey, kid: "k1" })}`, "caller_unauthenticated", "signature invalid");
  });

  test("rejects a token whose kid is not in the issuer's JWKS", async () => {
    const v = verifier();
    await assertRejected(v, `Bearer ${await sign({ key: foreign.privateKey, kid: "unknown" })}`, "caller_unauthenticated", "signature invalid");
  });

  test("rejects a token that names no caller", async () => {
    const v = verifier();
    await assertRejected(v, `Bearer ${await sign({ claims: { azp: undefined } })}`, "caller_unauthenticated", "caller identity missing");
  });

  test("rejects Authorization values that are not a bearer JWT", async () => {
    const v = verifier();
    const token = await sign();
    const cases: [string | null | undefined, string][] = [
      [undefined, "bearer token required"],
      [null, "bearer token required"],
      ["", "bearer token required"],
      ["Basic x", "bearer token required"],
      [`Basic ${token}`, "bearer token required"],
      ["Bearer", "bearer token required"],
      ["Bearer ", "bearer token required"],
      ["Bearer    ", "bearer token required"],
      [`Bearer${token}`, "bearer token required"],
      ["Bearer a.b", "malformed token"],
      ["Bearer a.b.c", "malformed token"],
      ["Bearer a.b.c.d.e", "malformed token"],
      [`Bearer ${token} extra`, "malformed token"],
      [`Bearer ${"a".repeat(20_000)}.b.c`, "malformed token"],
    ];
    for (const [header, detail] of cases) await assertRejected(v, header, "caller_unauthenticated", detail);
    assert.equal(jwks.requests, 0);
  });

  test("describes each rejection for the route's one log line with a fingerprint of the token, and logs nothing itself", async () => {
    const v = verifier();
    const token = await sign({ claims: { aud: "api://someone-else" } });
    const error = await assertRejected(v, `Bearer ${token}`, "caller_unauthenticated", "audience not accepted");
    assert.deepEqual(logger.records, []);
    const entry = error.logFields;
    assert.ok(!JSON.stringify(entry).includes(token.split(".")[2]!));
    assert.equal(entry?.reason, "audience not accepted");
    assert.equal(entry?.issuer, "corp");
    assert.match(String(entry?.token), /^sha256:[0-9a-f]{12}$/);
  });
});

describe("CallerVerifier: issuer availability", () => {
  test("answers upstream_unavailable with Retry-After when the JWKS endpoint refuses connections", async () => {
    const dead = await JwksServer.start([]);
    await dead.close();
    const v = verifier({ corp: issuerConfig({ jwksUri: dead.url }) });
    const error = await assertRejected(v, `Bearer ${await sign()}`, "upstream_unavailable", /unavailable/);
    assert.equal(error.retryAfterSec, 5);
    assert.equal(error.status, 503);
    assert.equal(logger.events("caller_jwks_unavailable").length, 1);
  });

  test("answers upstream_unavailable while the JWKS endpoint fails, and recovers when it is back", async () => {
    const v = verifier();
    jwks.failWith = 500;
    const token = await sign();
    await assertRejected(v, `Bearer ${token}`, "upstream_unavailable", /unavailable/);
    jwks.failWith = undefined;
    clock.advance(5000); // the cool-down between two fetches
    assert.equal((await v.verify(`Bearer ${token}`)).id, "orders");
  });

  test("keeps verifying with the last good keys while the JWKS endpoint fails, until jwksMaxStaleSec", async () => {
    const v = verifier({ corp: issuerConfig({ jwksMaxStaleSec: 7200 }) });
    await v.verify(`Bearer ${await sign()}`);
    jwks.failWith = 500;
    clock.advance(3_600_000); // past the 10 min refresh (0 here) and jose's old 10 min cache age
    const fresh = `Bearer ${await sign({ claims: { jti: "fresh" } })}`;
    assert.equal((await v.verify(fresh)).id, "orders");
    await until(() => logger.events("caller_jwks_unavailable").length === 1);
    assert.equal(jwks.requests, 2, "the refresh was tried");
    clock.advance(3_600_000);
    const late = `Bearer ${await sign({ claims: { jti: "late" } })}`;
    const error = await assertRejected(v, late, "upstream_unavailable", /unavailable/);
    assert.equal(error.status, 503);
  });

  test("a flood of unknown kids during an outage costs one fetch per cool-down, and each token is a 401", async () => {
    const v = verifier({ corp: issuerConfig({ jwksCooldownSec: 5 }) });
    await v.verify(`Bearer ${await sign()}`);
    jwks.failWith = 500;
    const before = jwks.requests;
    for (let round = 0; round < 3; round++) {
      clock.advance(5000);
      const tokens = await Promise.all(
        Array.from({ length: 50 }, (_, i) => sign({ kid: `forged-${round}-${i}`, key: foreign.privateKey, claims: { jti: `${round}-${i}` } })),
      );
      const results = await Promise.allSettled(tokens.map((t) => v.verify(`Bearer ${t}`)));
      for (const result of results) {
        assert.equal(result.status, "rejected");
        assert.equal((result.reason as BrokerError).code, "caller_unauthenticated");
      }
    }
    assert.equal(jwks.requests - before, 3, "one fetch per cool-down, not one per token");
    assert.equal(v.jwksFetches("corp"), jwks.requests);
  });

  test("writes one warn line per interval for repeated failures, with their count, and one line on recovery", async () => {
    const v = verifier();
    await v.verify(`Bearer ${await sign()}`);
    jwks.failWith = 500;
    for (let i = 0; i < 36; i++) {
      clock.advance(5000); // 36 failed fetches over 180 s
      await assertRejected(v, `Bearer ${await sign({ kid: `x${i}`, claims: { jti: String(i) } })}`, "caller_unauthenticated", "signature invalid");
    }
    const warns = logger.events("caller_jwks_unavailable");
    assert.ok(warns.length >= 3 && warns.length <= 4, `${warns.length} warn lines`);
    assert.equal(warns[0]?.keys_usable, true);
    jwks.failWith = undefined;
    clock.advance(5000);
    await assertRejected(v, `Bearer ${await sign({ kid: "y" })}`, "caller_unauthenticated", "signature invalid");
    assert.equal(logger.events("caller_jwks_recovered").length, 1);
    const recovered = logger.events("caller_jwks_recovered")[0]!;
    assert.equal(Number(recovered.failures_not_logged) + warns.reduce((sum, w) => sum + Number(w.failures), 0), 36, "every failure counted once");
  });

  test("accepts a key published after the last fetch once the cool-down has passed", async () => {
    const v = verifier({ corp: issuerConfig({ jwksCooldownSec: 5 }) });
    await v.verify(`Bearer ${await sign()}`);
    const next = await rsaTestKeyPair("caller-next");
    const saved = jwks.keys;
    jwks.keys = [...saved, await publicJwk(next, "k2")];
    try {
      const token = `Bearer ${await sign({ kid: "k2", key: next.privateKey })}`;
      await assertRejected(v, token, "caller_unauthenticated", "signature invalid");
      clock.advance(5000);
      assert.equal((await v.verify(token)).id, "orders");
    } finally {
      jwks.keys = saved;
    }
  });

  for (const [fault, body] of [
    ["not JSON", "<html>maintenance</html>"],
    ["an empty key set", JSON.stringify({ keys: [] })],
    ["a 1 MB body", JSON.stringify({ keys: [{ kty: "RSA", n: "x".repeat(1024 * 1024) }] })],
  ] as const) {
    test(`keeps the last good keys when the JWKS endpoint answers 200 with ${fault}`, async () => {
      const v = verifier();
      await v.verify(`Bearer ${await sign()}`);
      jwks.body = body;
      try {
        clock.advance(5000);
        assert.equal((await v.verify(`Bearer ${await sign({ claims: { jti: "next" } })}`)).id, "orders");
        await until(() => logger.events("caller_jwks_unavailable").length === 1);
        assert.equal(v.jwksFetches("corp"), 2);
        clock.advance(5000);
        assert.equal((await v.verify(`Bearer ${await sign({ claims: { jti: "later" } })}`)).id, "orders");
      } finally {
        jwks.body = undefined;
      }
    });
  }
});
