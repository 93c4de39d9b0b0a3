import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertRejected, AUDIENCE, clock, ISSUER, issuerConfig, jwks, sign, useCallerTokens, verifier } from "./caller-token-harness.js";

useCallerTokens();

describe("CallerVerifier: verified-token cache", () => {
  test("serves a second verify of the same token from the cache, even while the JWKS endpoint fails", async () => {
    const v = verifier();
    const header = `Bearer ${await sign()}`;
    const first = await v.verify(header);
    assert.equal(v.signatureChecks, 1);
    jwks.failWith = 503;
    assert.equal(await v.verify(header), first);
    assert.equal(await v.verify(header.replace("Bearer", "bearer")), first);
    assert.equal(v.signatureChecks, 1);
    assert.equal(v.jwksFetches("corp"), 1, "no fetch for a cached token");
  });

  test("a cache hit costs a tiny fraction of a signature verification", async () => {
    const v = verifier();
    const header = `Bearer ${await sign()}`;
    await v.verify(header);
    const count = 20_000;
    for (let i = 0; i < count; i++) await v.verify(header);
    // Counted, not timed: a hit runs no signature verification and no key lookup, the costly parts
    // of a verify (the timing itself belongs to npm run bench).
    assert.equal(v.signatureChecks, 1);
    assert.equal(v.jwksFetches("corp"), 1);
  });

  test("stops serving a cached token once the clock passes its exp", async () => {
    const v = verifier({ corp: issuerConfig({ clockToleranceSec: 0 }) });
    const header = `Bearer ${await sign()}`;
    await v.verify(header);
    clock.advance(599_999);
    await v.verify(header);
    assert.equal(v.signatureChecks, 1);
    clock.advance(1);
    await assertRejected(v, header, "caller_unauthenticated", "token expired");
  });

  test("past exp, a cached token gets the same answer as an uncached verify (clock tolerance applies)", async () => {
    const v = verifier();
    const header = `Bearer ${await sign()}`;
    await v.verify(header);
    clock.advance(600_000 + 1000);
    assert.equal((await v.verify(header)).id, "orders");
    assert.equal(v.signatureChecks, 2, "re-verified instead of served from the cache");
    clock.advance(30_000);
    await assertRejected(v, header, "caller_unauthenticated", "token expired");
  });

  test("evicts the oldest verified token when the cache is full", async () => {
    const v = verifier(undefined, { cacheSize: 2 });
    const [a, b, c] = await Promise.all(["a", "b", "c"].map(async (id) => `Bearer ${await sign({ claims: { azp: id } })}`));
    for (const header of [a, b, c]) await v.verify(header);
    assert.equal(v.signatureChecks, 3);
    await v.verify(c);
    assert.equal(v.signatureChecks, 3, "c is cached");
    await v.verify(a);
    assert.equal(v.signatureChecks, 4, "a was evicted");
    await v.verify(b);
    assert.equal(v.signatureChecks, 5, "b was evicted to make room for a");
  });

  test("cacheSize 0 verifies every time", async () => {
    const v = verifier(undefined, { cacheSize: 0 });
    const header = `Bearer ${await sign()}`;
    await v.verify(header);
    await v.verify(header);
    assert.equal(v.signatureChecks, 2);
  });

  test("a forged token that shares a cached token's signature is verified in full, not served from the cache", async () => {
    const v = verifier();
    const token = await sign();
    await v.verify(`Bearer ${token}`);
    const [header, , signature] = token.split(".");
    const forgedPayload = Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, azp: "ops", exp: Math.floor(clock.now() / 1000) + 600 })).toString("base64url");
    await assertRejected(v, `Bearer ${header}.${forgedPayload}.${signature}`, "caller_unauthenticated", "signature invalid");
    assert.equal((await v.verify(`bearer ${token}`)).id, "orders", "the genuine token is still a hit, scheme in any case");
  });

  test("never caches a rejected token", async () => {
    const v = verifier();
    const header = `Bearer ${await sign({ claims: { aud: "api://someone-else" } })}`;
    await assertRejected(v, header, "caller_unauthenticated", "audience not accepted");
    await assertRejected(v, header, "caller_unauthenticated", "audience not accepted");
    assert.equal(v.signatureChecks, 2);
  });
});
