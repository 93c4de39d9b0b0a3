import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, test } from "node:test";
import { decodeJwt, importJWK, jwtVerify } from "jose";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { ClientAssertions } from "../../../shared/signing/client-assertions.js";
import { PemSigner } from "../../../shared/signing/pem-signer.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";
import { rsaTestPrivateKey } from "../../support/test-keys.js";

// RSA keys are the checkout's test keys (the new-version test takes a second, different one); EC
// keys are cheap to generate.
const pem = (type: "rsa" | "ec", which: "first" | "second" = "first"): string =>
  (type === "rsa" ? rsaTestPrivateKey(`pem-signer-${which}`) : generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey).export({
    format: "pem",
    type: "pkcs8",
  }) as string;

describe("PemSigner and ClientAssertions", () => {
  for (const [alg, type] of [["RS256", "rsa"], ["PS256", "rsa"], ["ES256", "ec"]] as const) {
    test(`${alg}: an RFC 7523 assertion that verifies with the published key`, async () => {
      const secrets = new MemorySecretStore();
      await secrets.set("client-key", pem(type));
      const clock = new ManualClock();
      const signer = new PemSigner("client-key", alg, secrets);
      const assertion = await new ClientAssertions(signer, { lifetimeSec: 60, reuse: false }, clock).assertion("client-9", "https://as.example/token");
      const [jwk] = await signer.publicKeys();
      const { payload, protectedHeader } = await jwtVerify(assertion, await importJWK(jwk!, alg), { currentDate: new Date(clock.now()) });
      assert.deepEqual(
        { iss: payload.iss, sub: payload.sub, aud: payload.aud, life: payload.exp! - payload.iat!, kid: protectedHeader.kid, alg: protectedHeader.alg },
        { iss: "client-9", sub: "client-9", aud: "https://as.example/token", life: 60, kid: jwk!.kid, alg },
      );
      assert.ok(!("d" in jwk!));
    });
  }

  test("each assertion has its own jti unless reuse is allowed, and a reused one is renewed at half its life", async () => {
    const secrets = new MemorySecretStore();
    await secrets.set("client-key", pem("ec"));
    const clock = new ManualClock();
    const signer = new PemSigner("client-key", "ES256", secrets);
    const fresh = new ClientAssertions(signer, { lifetimeSec: 120, reuse: false }, clock);
    assert.notEqual(decodeJwt(await fresh.assertion("c", "a")).jti, decodeJwt(await fresh.assertion("c", "a")).jti);
    const reused = new ClientAssertions(signer, { lifetimeSec: 120, reuse: true, audience: "https://configured.example" }, clock);
    const first = await reused.assertion("c", "a");
    assert.equal(decodeJwt(first).aud, "https://configured.example");
    clock.advance(59_000);
    assert.equal(await reused.assertion("c", "a"), first);
    clock.advance(2_000);
    assert.notEqual(await reused.assertion("c", "a"), first);
  });

  test("a new secret version is a new key (new kid); a secret that is no key for the algorithm is secret_unavailable", async () => {
    const secrets = new MemorySecretStore();
    await secrets.set("client-key", pem("rsa"));
    const signer = new PemSigner("client-key", "RS256", secrets);
    const before = (await signer.current()).kid;
    await secrets.set("client-key", pem("rsa", "second"));
    assert.notEqual((await signer.current()).kid, before);
    await secrets.set("client-key", pem("ec"));
    await assert.rejects(signer.current(), (e: unknown) => e instanceof BrokerError && e.code === "secret_unavailable" && /"client-key"/.test(e.detail));
    const canary = `CANARY-${crypto.randomUUID()}`;
    await secrets.set("client-key", canary);
    await assert.rejects(signer.current(), (e: unknown) => e instanceof BrokerError && !e.detail.includes(canary));
  });
});
