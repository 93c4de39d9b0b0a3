import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { TokenCredential } from "@azure/identity";
import { KeyClient } from "@azure/keyvault-keys";
import { ensureDevTls } from "../../../dev/tls.js";
import { parseConfig } from "../../../shared/config/load.js";
import { isConflict } from "../../../shared/errors/conflict-error.js";
import { InProcessLock } from "../../../shared/rotation/in-process-lock.js";
import { SigningKeys } from "../../../shared/signing/signing-keys.js";
import { KeyVaultKeysServer } from "../../fakes/key-vault-keys-server.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";

const TOKEN = `vault-token-${crypto.randomUUID()}`;
const credential: TokenCredential = { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
const DAY = 86_400_000;
const KEY = "partner-assertion-key";

let vault: KeyVaultKeysServer;
const clock = new ManualClock(Date.now());

before(async () => {
  vault = await KeyVaultKeysServer.start({ tls: await ensureDevTls(), acceptToken: (t) => t === TOKEN, now: () => clock.now() });
});
after(() => vault.close());

/** One broker instance's signing keys; instances given the same lock stand for a fleet on one Redis. */
function instance(lock: InProcessLock): SigningKeys {
  const config = parseConfig(
    JSON.stringify({
      providers: {
        partner: {
          kind: "oauth2",
          tokenUrl: "https://partner.test/token",
          clientId: "broker-client",
          clientAuth: "private_key_jwt",
          signingKey: { keyVaultKey: KEY, vaultUrl: vault.url, algorithm: "RS256", rotation: { intervalDays: 30 } },
        },
      },
      issuers: {},
      callers: {},
    }),
  );
  return new SigningKeys({
    config,
    secrets: new MemorySecretStore(clock),
    clock,
    keyClient: async (vaultUrl) => new KeyClient(vaultUrl, credential, { disableChallengeResourceVerification: true }),
    lock,
  });
}

describe("SigningKeys", () => {
  test("two instances rotating the same key at once: one creates a version, the other is refused with rotation_running", async () => {
    vault.seed(KEY, "RSA", clock.now() - 40 * DAY);
    const lock = new InProcessLock(clock);
    const results = await Promise.allSettled([instance(lock).rotate("partner", false), instance(lock).rotate("partner", false)]);
    const created = results.flatMap((r) => (r.status === "fulfilled" && r.value.created ? [r.value.created] : []));
    const refused = results.filter((r) => r.status === "rejected" && isConflict(r.reason, "rotation_running"));
    assert.equal(created.length, 1, JSON.stringify(results.map((r) => r.status)));
    assert.equal(refused.length, 1);
    assert.equal(vault.versions(KEY).length, 2, "the seeded version and one new one");
    // The lock is released after the step: the next run goes ahead (and finds nothing to create).
    assert.equal((await instance(lock).rotate("partner", false)).created, undefined);
  });
});
