import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CredentialUnavailableError, type DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { KeyVaultRequests } from "../../../shared/secrets/key-vault-requests.js";
import { SecretNotFoundError } from "../../../shared/secrets/secret-store.js";
import type { KeyVaultServer } from "../../fakes/key-vault-server.js";
import { clearAzureEnvironment, type KeyVaultFake, startKeyVaultFake } from "../../support/key-vault-fake.js";
import { ManualClock } from "../../support/manual-clock.js";

clearAzureEnvironment();

let fake: KeyVaultFake;
let vault: KeyVaultServer;
let credential: DefaultAzureCredential;

before(async () => {
  fake = await startKeyVaultFake();
  ({ vault, credential } = fake);
});

after(() => fake.close());

/** Reads through the real SDK client, each run by KeyVaultRequests as the secret store runs them. */
function makeRequests(): { get: (name: string) => ReturnType<SecretClient["getSecret"]>; clock: ManualClock; logger: MemoryLogger } {
  const clock = new ManualClock();
  const logger = new MemoryLogger();
  // Real SDK retries, but milliseconds apart so the suite stays fast.
  const client = new SecretClient(vault.url, credential, {
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 2, retryDelayInMs: 1, maxRetryDelayInMs: 5 },
  });
  const requests = new KeyVaultRequests({ clock, sleeper: clock, random: () => 0.5, logger });
  return { get: (name) => requests.run("get", name, () => client.getSecret(name)), clock, logger };
}

function isUnavailable(error: unknown): error is BrokerError {
  return error instanceof BrokerError && error.code === "secret_unavailable" && !(error instanceof SecretNotFoundError);
}

describe("KeyVaultRequests against the Key Vault fake", () => {
  it("backs off with jitter on 429 without Retry-After, which the SDK does not retry", async () => {
    const { get, clock, logger } = makeRequests();
    vault.seed("throttled", "value");
    await get("throttled"); // warm up the challenge so only real reads are counted
    const getsBefore = vault.count("get");
    vault.inject({ route: "get", status: 429 }, { route: "get", status: 429 });

    assert.equal((await get("throttled")).value, "value");
    assert.equal(vault.count("get") - getsBefore, 3);
    assert.deepEqual(clock.sleeps, [250, 500], "full jitter (random 0.5) over 500 ms, 1 s");
    assert.equal(logger.events("secret_store_throttled").length, 2);
  });

  it("gives up after four throttled attempts with secret_unavailable", async () => {
    const { get, clock } = makeRequests();
    vault.seed("always-throttled", "value");
    await get("always-throttled");
    const getsBefore = vault.count("get");
    vault.inject(...Array.from({ length: 4 }, () => ({ route: "get" as const, status: 429 })));

    await assert.rejects(get("always-throttled"), (e: unknown) => isUnavailable(e) && e.retryAfterSec === 5);
    assert.equal(vault.count("get") - getsBefore, 4);
    assert.equal(clock.sleeps.length, 3);
  });

  it("leaves 429 with Retry-After to the SDK and passes the Retry-After on", async () => {
    const { get, clock } = makeRequests();
    vault.seed("retry-after", "value");
    await get("retry-after");
    const getsBefore = vault.count("get");
    vault.inject(...Array.from({ length: 3 }, () => ({ route: "get" as const, status: 429, headers: { "retry-after": "0" } })));

    await assert.rejects(get("retry-after"), (e: unknown) => isUnavailable(e) && e.retryAfterSec === 1);
    assert.equal(vault.count("get") - getsBefore, 3, "the SDK retried twice itself");
    assert.deepEqual(clock.sleeps, [], "no back-off of our own on top");
  });

  it("maps a 503 that outlasts the SDK's retries to secret_unavailable", async () => {
    const { get, logger } = makeRequests();
    vault.seed("vault-down", "value");
    await get("vault-down");
    const getsBefore = vault.count("get");
    vault.inject(...Array.from({ length: 3 }, () => ({ route: "get" as const, status: 503 })));

    await assert.rejects(get("vault-down"), (e: unknown) => isUnavailable(e) && e.retryAfterSec === 5 && e.detail.includes("HTTP 503"));
    assert.equal(vault.count("get") - getsBefore, 3);
    assert.equal(logger.events("secret_store_unavailable").length, 1);
  });

  it("maps 403 to secret_unavailable with a distinct access-denied log event", async () => {
    const { get, logger } = makeRequests();
    vault.seed("forbidden", "value");
    await get("forbidden");
    vault.inject({ route: "get", status: 403, body: { error: { code: "Forbidden", message: "Caller is not authorized." } } });

    await assert.rejects(get("forbidden"), isUnavailable);
    assert.equal(logger.events("secret_store_access_denied").length, 1);
    assert.equal(logger.events("secret_store_unavailable").length, 0);
  });

  it("maps dropped connections to secret_unavailable", async () => {
    const { get } = makeRequests();
    vault.seed("reset", "value");
    await get("reset");
    vault.inject(...Array.from({ length: 3 }, () => ({ route: "get" as const, destroy: true as const })));
    await assert.rejects(get("reset"), (e: unknown) => isUnavailable(e) && e.detail.includes("network error"));
  });

  it("maps a credential that cannot get a token to secret_unavailable with an auth-failed log event", async () => {
    const logger = new MemoryLogger();
    const clock = new ManualClock();
    const noIdentity: TokenCredential = {
      getToken: async () => {
        throw new CredentialUnavailableError("ManagedIdentityCredential: no identity endpoint");
      },
    };
    const client = new SecretClient(vault.url, noIdentity, { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } });
    const requests = new KeyVaultRequests({ clock, sleeper: clock, random: () => 0.5, logger });
    vault.seed("no-identity", "value");
    await assert.rejects(requests.run("get", "no-identity", () => client.getSecret("no-identity")), isUnavailable);
    assert.equal(logger.events("secret_store_auth_failed").length, 1);
  });
});
