import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { after, before, describe, it } from "node:test";
import type { DefaultAzureCredential } from "@azure/identity";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { createKeyVaultSecretStore, type KeyVaultSecretStore } from "../../../shared/secrets/key-vault-store.js";
import { SecretNotFoundError } from "../../../shared/secrets/secret-store.js";
import type { KeyVaultServer } from "../../fakes/key-vault-server.js";
import type { ManagedIdentityServer } from "../../fakes/managed-identity-server.js";
import { clearAzureEnvironment, type KeyVaultFake, startKeyVaultFake } from "../../support/key-vault-fake.js";
import { ManualClock } from "../../support/manual-clock.js";

clearAzureEnvironment();

let fake: KeyVaultFake;
let msi: ManagedIdentityServer;
let vault: KeyVaultServer;
let credential: DefaultAzureCredential;

before(async () => {
  fake = await startKeyVaultFake();
  ({ msi, vault, credential } = fake);
});

after(() => fake.close());

function makeStore(options: { timeoutMs?: number } = {}): { store: KeyVaultSecretStore; clock: ManualClock; logger: MemoryLogger } {
  const clock = new ManualClock();
  const logger = new MemoryLogger();
  const store = createKeyVaultSecretStore({
    vaultUrl: vault.url,
    credential,
    disableChallengeResourceVerification: true,
    clock,
    sleeper: clock,
    random: () => 0.5,
    logger,
    // Real SDK retries, but milliseconds apart so the suite stays fast.
    sdkRetry: { maxRetries: 2, retryDelayInMs: 1, maxRetryDelayInMs: 5 },
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  return { store, clock, logger };
}

function isUnavailable(error: unknown): error is BrokerError {
  return error instanceof BrokerError && error.code === "secret_unavailable" && !(error instanceof SecretNotFoundError);
}

describe("KeyVaultSecretStore against the Key Vault fake", () => {
  it("answers the bearer challenge with a managed identity token and writes then reads a secret", async () => {
    const { store } = makeStore();
    const challengesBefore = vault.count("challenge");
    const written = await store.set("flowe-authkey", "first-value", { owner: "broker" });
    assert.match(written.version, /^[0-9a-f]{32}$/);
    assert.equal(vault.latestValue("flowe-authkey"), "first-value");
    assert.deepEqual(vault.versions("flowe-authkey")[0]!.tags, { owner: "broker" });

    const read = await store.get("flowe-authkey");
    assert.deepEqual(read, { ...written });
    assert.equal(read.value, "first-value");
    assert.deepEqual(read.tags, { owner: "broker" });

    assert.equal(vault.count("challenge"), challengesBefore + 1, "one unauthenticated challenge request per client");
    assert.equal(vault.count("unauthorized"), 0, "every authorised request carried a token the MSI fake issued");
    assert.ok(msi.requests.length >= 1);
    assert.ok(msi.requests.every((r) => r.headerOk && r.resource === "https://vault.azure.net"));
  });

  it("reads the latest version and any earlier version by id", async () => {
    const { store } = makeStore();
    const v1 = await store.set("phixflow-key", "one");
    const v2 = await store.set("phixflow-key", "two", { rotated: "yes" });
    assert.equal((await store.get("phixflow-key")).version, v2.version);
    const old = await store.get("phixflow-key", v1.version);
    assert.equal(old.value, "one");
    assert.deepEqual(old.tags, {});
    assert.equal(old.enabled, true);
  });

  it("lists versions oldest first although the vault returns them shuffled over several pages", async () => {
    const { store } = makeStore();
    const base = Date.UTC(2026, 0, 1);
    const seeded: string[] = [];
    for (let i = 0; i < 30; i++) seeded.push(vault.seed("silverflow-key", `v${i}`, { createdOn: base + i * 60_000, tags: { n: String(i) } }));
    const pagesBefore = vault.count("versions");

    const versions = await store.listVersions("silverflow-key");
    assert.deepEqual(
      versions.map((v) => v.version),
      seeded,
    );
    assert.deepEqual(versions[7], { name: "silverflow-key", version: seeded[7], tags: { n: "7" }, createdOn: base + 7 * 60_000, enabled: true });
    assert.equal(vault.count("versions") - pagesBefore, 2, "30 versions come in two pages of at most 25");
  });

  it("maps a missing secret to SecretNotFoundError and an empty version list", async () => {
    const { store } = makeStore();
    await assert.rejects(store.get("does-not-exist"), SecretNotFoundError);
    await assert.rejects(store.get("phixflow-key", "f".repeat(32)), SecretNotFoundError);
    assert.deepEqual(await store.listVersions("does-not-exist"), []);
    vault.inject({ route: "versions", status: 404, body: { error: { code: "SecretNotFound", message: "not found" } } });
    assert.deepEqual(await store.listVersions("does-not-exist"), [], "a vault answering 404 to a listing means no versions too");
  });

  it("rejects an invalid name without calling the vault", async () => {
    const { store } = makeStore();
    const before = vault.log.length;
    await assert.rejects(store.get("bad_name"), (e: unknown) => e instanceof BrokerError && e.code === "bad_request");
    await assert.rejects(store.set("a/b", "v"), (e: unknown) => e instanceof BrokerError && e.code === "bad_request");
    assert.equal(vault.log.length, before);
  });

  it("recovers when a 503 is followed by success within the SDK's retries", async () => {
    const { store } = makeStore();
    vault.seed("vault-blip", "value");
    await store.get("vault-blip");
    vault.inject({ route: "get", status: 503 });
    assert.equal((await store.get("vault-blip")).value, "value");
  });

  it("times out a vault that does not answer", async () => {
    const { store } = makeStore({ timeoutMs: 150 });
    vault.seed("hung", "value");
    await store.get("hung");
    vault.inject({ route: "get", delayMs: 5000 });
    await assert.rejects(store.get("hung"), (e: unknown) => isUnavailable(e) && e.detail.includes("timed out"));
  });

  it("refuses a loopback vault unless challenge resource verification is disabled", async () => {
    const logger = new MemoryLogger();
    const clock = new ManualClock();
    const strict = createKeyVaultSecretStore({
      vaultUrl: vault.url,
      credential,
      disableChallengeResourceVerification: false,
      clock,
      sleeper: clock,
      random: () => 0.5,
      logger,
    });
    vault.seed("strict-check", "value");
    await assert.rejects(strict.get("strict-check"), (e: unknown) => isUnavailable(e) && e.detail.includes("request failed"));
  });

  it("never puts a secret value in a log line, an error or its causes", async () => {
    const { store, logger } = makeStore();
    const canary = () => `CANARY-${randomBytes(12).toString("hex")}`;
    const values: string[] = [];
    const errors: unknown[] = [];
    const attempt = async (faults: Parameters<KeyVaultServer["inject"]>) => {
      const value = canary();
      values.push(value);
      vault.inject(...faults);
      try {
        await store.set("canary-secret", value, { note: "canary" });
      } catch (error) {
        errors.push(error);
      }
    };
    await attempt([]);
    await attempt(Array.from({ length: 3 }, () => ({ route: "set" as const, status: 503 })));
    await attempt(Array.from({ length: 4 }, () => ({ route: "set" as const, status: 429 })));
    await attempt([{ route: "set", status: 403 }]);
    await attempt([{ route: "set", status: 400, body: { error: { code: "BadParameter", message: "bad" } } }]);
    await attempt(Array.from({ length: 3 }, () => ({ route: "set" as const, destroy: true as const })));
    const read = await store.get("canary-secret");
    assert.equal(read.value, values[0], "only the first write got through");

    assert.equal(errors.length, 5);
    const texts = [
      ...logger.lines,
      ...errors.flatMap((e) => [String(e), (e as BrokerError).detail, JSON.stringify(e), inspect(e, { depth: 10, showHidden: true })]),
    ];
    for (const value of values) assert.ok(texts.every((t) => !t.includes(value)), "a canary value leaked");
    assert.ok(errors.every(isUnavailable));
  });
});
