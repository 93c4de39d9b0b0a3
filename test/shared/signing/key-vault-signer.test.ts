import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { TokenCredential } from "@azure/identity";
import { KeyClient } from "@azure/keyvault-keys";
import { importJWK, jwtVerify } from "jose";
import { ensureDevTls } from "../../../dev/tls.js";
import { ClientAssertions } from "../../../shared/signing/client-assertions.js";
import type { AssertionAlgorithm } from "../../../shared/signing/jws.js";
import { KeyVaultSigner } from "../../../shared/signing/key-vault-signer.js";
import { KeyVaultKeysServer } from "../../fakes/key-vault-keys-server.js";
import { ManualClock } from "../../support/manual-clock.js";

/** KeyVaultSigner through the real KeyClient/CryptographyClient against the loopback keys vault. */
const TOKEN = `vault-token-${crypto.randomUUID()}`;
const credential: TokenCredential = { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
const MIN = 60_000;
const DAY = 86_400_000;

let vault: KeyVaultKeysServer;
const clock = new ManualClock(Date.now());
let client: KeyClient;

before(async () => {
  vault = await KeyVaultKeysServer.start({ tls: await ensureDevTls(), acceptToken: (t) => t === TOKEN, now: () => clock.now() });
  client = new KeyClient(vault.url, credential, { disableChallengeResourceVerification: true });
});
after(() => vault.close());

function signer(keyName: string, alg: AssertionAlgorithm, intervalMs?: number) {
  return new KeyVaultSigner({ client, keyName, alg, clock, policy: { publishOverlapMs: 60 * MIN, inUseMs: 7 * MIN, intervalMs } });
}

describe("KeyVaultSigner", () => {
  for (const [alg, kty] of [["RS256", "RSA"], ["PS256", "RSA"], ["ES256", "EC"]] as const) {
    test(`${alg}: assertions are signed in the vault and verify with the published key`, async () => {
      const name = `assertion-${alg.toLowerCase()}`;
      const version = vault.seed(name, kty, clock.now() - DAY);
      const s = signer(name, alg);
      const signsBefore = vault.counts.sign;
      const assertion = await new ClientAssertions(s, { lifetimeSec: 120, reuse: false }, clock).assertion("client-1", "https://as.example/token");
      assert.equal(vault.counts.sign, signsBefore + 1, "one signature made by the vault");
      const [jwk] = await s.publicKeys();
      assert.equal(jwk?.kid, version);
      const { payload, protectedHeader } = await jwtVerify(assertion, await importJWK(jwk!, alg), {
        issuer: "client-1",
        subject: "client-1",
        audience: "https://as.example/token",
        currentDate: new Date(clock.now()),
      });
      assert.equal(protectedHeader.kid, version);
      assert.ok(typeof payload.jti === "string" && payload.exp! - payload.iat! === 120);
      // The public key is all the broker holds of the key.
      for (const member of ["d", "p", "q", "dp", "dq", "qi"]) assert.ok(!(member in jwk!), `private member ${member} published`);
    });
  }

  test("rotation: a new version is published first, signs after the overlap, and the old one is disabled once no assertion can use it", async () => {
    const name = "rotated-key";
    const old = vault.seed(name, "RSA", clock.now() - 10 * DAY);
    const s = signer(name, "RS256", 7 * DAY);

    const dry = await s.rotate(true);
    assert.equal(dry.plan.create, true);
    assert.equal(vault.versions(name).length, 1, "a dry run changes nothing");

    const first = await s.rotate(false);
    assert.ok(first.created);
    assert.equal((await s.rotate(false)).created, undefined, "running again creates nothing more");
    assert.equal((await s.current()).kid, old, "the old version signs while the new one is only published");
    assert.deepEqual((await s.publicKeys()).map((k) => k.kid).sort(), [old, first.created].sort());

    clock.advance(61 * MIN);
    assert.equal((await s.current()).kid, first.created, "the new version signs after the overlap");
    assert.equal((await s.rotate(false)).disabled.length, 0, "the old version stays while its assertions may be in use");
    assert.ok((await s.publicKeys()).some((k) => k.kid === old));

    clock.advance(8 * MIN);
    const last = await s.rotate(false);
    assert.deepEqual(last.disabled, [old]);
    assert.equal(vault.versions(name).find((k) => k.version === old)?.enabled, false);
    assert.deepEqual((await s.publicKeys()).map((k) => k.kid), [first.created]);
  });
});
