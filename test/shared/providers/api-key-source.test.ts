import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApiKeyProviderSchema } from "../../../shared/config/api-key-schema.js";
import { fingerprint } from "../../../shared/log/fingerprint.js";
import { ApiKeySource } from "../../../shared/providers/api-key-source.js";
import { basicClientAuth } from "../../../shared/providers/oauth2-client-auth.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { rejectsWith } from "../../support/assertions.js";
import { ManualClock } from "../../support/manual-clock.js";


function setup(config: Record<string, unknown>) {
  const clock = new ManualClock();
  const secrets = new MemorySecretStore();
  const parsed = ApiKeyProviderSchema.parse({ kind: "api-key", key: { secret: "partner-key" }, ...config });
  const source = new ApiKeySource({ name: "partner", config: parsed, secrets, clock });
  return { clock, secrets, source, issue: async () => (await source.prepare()).issue({ force: false }) };
}


describe("ApiKeySource, scheme basic", () => {
  it("sends id:secret as RFC 7617 Basic, without the form-encoding OAuth client auth uses", async () => {
    const h = setup({ scheme: "basic" });
    await h.secrets.set("partner-key", JSON.stringify({ id: "client id 1", secret: "p@ss w+rd/=%:x" }));
    const credential = await h.issue();
    const expected = "Basic " + Buffer.from("client id 1:p@ss w+rd/=%:x").toString("base64");
    assert.equal(expected, "Basic Y2xpZW50IGlkIDE6cEBzcyB3K3JkLz0lOng=");
    assert.equal(credential.headers.Authorization, expected);
    assert.notEqual(expected, basicClientAuth("client id 1", "p@ss w+rd/=%:x"));
    assert.equal(credential.tokenType, "Basic");
    assert.equal(credential.accessToken, undefined);
  });

  it("encodes non-ASCII as UTF-8", async () => {
    const h = setup({ scheme: "basic" });
    await h.secrets.set("partner-key", JSON.stringify({ id: "apk-é", secret: "€" }));
    assert.equal((await h.issue()).headers.Authorization, "Basic " + Buffer.from("apk-é:€", "utf8").toString("base64"));
  });

  it("reports the key id, lifetime and a fingerprint, never the secret", async () => {
    const h = setup({ scheme: "basic", cache: { defaultTtlSec: 900 } });
    await h.secrets.set("partner-key", JSON.stringify({ id: "apk-1wtRxni5IsPsSpBLWpwr", secret: "FWtnOOHAjbD6rNxWWEeVOCj7JXSEPGJQ" }));
    const prepared = await h.source.prepare();
    assert.equal(prepared.keyId, "apk-1wtRxni5IsPsSpBLWpwr");
    const credential = await prepared.issue({ force: false });
    assert.equal(credential.issuedAt, h.clock.now());
    assert.equal(credential.expiresAt, h.clock.now() + 900_000);
    assert.equal(credential.fingerprint, fingerprint("FWtnOOHAjbD6rNxWWEeVOCj7JXSEPGJQ"));
  });

  it("accepts the extra fields rotation stores next to id and secret", async () => {
    const h = setup({ scheme: "basic" });
    const payload = {
      id: "apk-new",
      secret: "new-secret",
      previous: { id: "apk-old", secret: "old-secret" },
      createdAt: "2026-11-23T12:00:00Z",
      rotationId: "r-1",
    };
    await h.secrets.set("partner-key", JSON.stringify(payload));
    assert.equal((await h.issue()).headers.Authorization, "Basic " + Buffer.from("apk-new:new-secret").toString("base64"));
  });

  it("rejects a malformed payload as secret_unavailable naming the secret but not its value", async () => {
    const canary = `CANARY-${Math.random().toString(36).slice(2)}`;
    const bad = [
      canary,
      JSON.stringify({ id: "apk", key: canary }),
      JSON.stringify({ id: "", secret: canary }),
      JSON.stringify([canary]),
      JSON.stringify({ id: "apk:1", secret: canary }),
      JSON.stringify({ id: "apk", secret: `${canary}\n` }),
    ];
    for (const value of bad) {
      const h = setup({ scheme: "basic" });
      await h.secrets.set("partner-key", value);
      const error = await rejectsWith(h.source.prepare(), "secret_unavailable");
      assert.match(error.detail, /"partner-key"/);
      assert.ok(!JSON.stringify([error.message, error.detail, String(error), error.stack]).includes(canary), value);
    }
  });

  it("includes configured extra headers, literal and secret", async () => {
    const h = setup({ scheme: "basic", headers: { "X-Tenant": "t1", "X-Signature-Key": { secret: "sig" } } });
    await h.secrets.set("partner-key", JSON.stringify({ id: "a", secret: "b" }));
    await h.secrets.set("sig", "sig-value");
    assert.deepEqual((await h.issue()).headers, {
      "X-Tenant": "t1",
      "X-Signature-Key": "sig-value",
      Authorization: "Basic " + Buffer.from("a:b").toString("base64"),
    });
  });
});

describe("ApiKeySource, scheme header", () => {
  it("sends the raw key in Authorization (PhixFlow)", async () => {
    const h = setup({ scheme: "header" });
    await h.secrets.set("partner-key", "phx-abc123");
    const prepared = await h.source.prepare();
    const credential = await prepared.issue({ force: false });
    assert.deepEqual(credential.headers, { Authorization: "phx-abc123" });
    assert.equal(credential.tokenType, "ApiKey");
    assert.equal(prepared.keyId, fingerprint("phx-abc123"));
    assert.equal(credential.fingerprint, fingerprint("phx-abc123"));
  });

  it("uses the configured header and prefix, replacing a configured header of the same name", async () => {
    const h = setup({ scheme: "header", header: "X-Api-Key", prefix: "ApiKey ", headers: { "x-api-key": "stale", Partner: "acme" } });
    await h.secrets.set("partner-key", "k-1");
    assert.deepEqual((await h.issue()).headers, { Partner: "acme", "X-Api-Key": "ApiKey k-1" });
  });

  it("serves a new secret version under a new cacheKey without a restart", async () => {
    const h = setup({ scheme: "header" });
    await h.secrets.set("partner-key", "key-one");
    const first = await h.source.prepare();
    assert.equal((await h.source.prepare()).cacheKey, first.cacheKey);
    await h.secrets.set("partner-key", "key-two");
    const second = await h.source.prepare();
    assert.notEqual(second.cacheKey, first.cacheKey);
    assert.match(second.cacheKey, /^partner:[0-9a-f]{16}$/);
    assert.equal((await second.issue({ force: false })).headers.Authorization, "key-two");
  });

  it("refuses a key that would break the header, without echoing it", async () => {
    const canary = `CANARY-${Math.random().toString(36).slice(2)}`;
    const h = setup({ scheme: "header" });
    await h.secrets.set("partner-key", `${canary}\r\nX-Evil: 1`);
    const error = await rejectsWith(h.source.prepare(), "secret_unavailable");
    assert.ok(!JSON.stringify([error.message, error.detail, error.stack]).includes(canary));
  });

  it("reports a missing secret as secret_unavailable", async () => {
    const h = setup({ scheme: "header" });
    await rejectsWith(h.source.prepare(), "secret_unavailable");
  });
});
