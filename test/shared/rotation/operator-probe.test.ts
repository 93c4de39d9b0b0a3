import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ApiKeyProviderSchema } from "../../../shared/config/api-key-schema.js";
import type { FetchLike } from "../../../shared/http/fetch-like.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { OperatorProbe, ProbeRejectedError } from "../../../shared/rotation/operator-probe.js";
import type { SecretVersion } from "../../../shared/secrets/secret-store.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";

interface Sent {
  url: string;
  method: string | undefined;
  headers: Record<string, string>;
}

function setup(config: Record<string, unknown>, statuses: number[]) {
  const clock = new ManualClock();
  const secrets = new MemorySecretStore(clock);
  const sent: Sent[] = [];
  const fetch: FetchLike = async (input, init) => {
    sent.push({ url: String(input), method: init?.method, headers: Object.fromEntries(new Headers(init?.headers)) });
    const status = statuses.shift();
    if (status === undefined) throw new Error("no scripted answer left");
    return new Response(null, { status });
  };
  const provider = ApiKeyProviderSchema.parse({
    kind: "api-key",
    key: { secret: "k" },
    scheme: "header",
    upstream: { timeoutMs: 1000, maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
    probe: { url: "https://partner.test/ping" },
    ...config,
  });
  const probe = new OperatorProbe("p", provider, { secrets, fetch, clock, sleeper: clock, random: () => 0.5, logger: new MemoryLogger() });
  return { probe, sent, secrets };
}

const version = (value: string): SecretVersion => ({ name: "k", version: "v2", value, tags: {}, createdOn: 0, enabled: true });

describe("OperatorProbe", () => {
  test("without a probe configured nothing is sent and every version passes", async () => {
    const t = setup({ probe: undefined }, []);
    await t.probe.check(version("anything"));
    assert.deepEqual(t.sent, []);
  });

  test("sends the probe with the provider's headers and the credential built from the version", async () => {
    const t = setup({ header: "X-Api-Key", prefix: "Key ", headers: { Partner: "acme" }, probe: { url: "https://partner.test/ping", method: "HEAD" } }, [200]);
    await t.probe.check(version("CANARY-new"));
    assert.deepEqual(t.sent, [{ url: "https://partner.test/ping", method: "HEAD", headers: { partner: "acme", "x-api-key": "Key CANARY-new" } }]);
  });

  test("builds Basic credentials from a basic key secret", async () => {
    const t = setup({ scheme: "basic" }, [200]);
    await t.probe.check(version(JSON.stringify({ id: "apk-2", secret: "CANARY-s" })));
    assert.equal(t.sent[0]?.headers.authorization, `Basic ${Buffer.from("apk-2:CANARY-s").toString("base64")}`);
  });

  test("a status the probe does not expect rejects the version", async () => {
    const t = setup({}, [401]);
    await assert.rejects(t.probe.check(version("CANARY-bad")), (error: Error & { code?: string; detail?: string }) => {
      assert.ok(error instanceof ProbeRejectedError);
      assert.equal(error.code, "upstream_rejected");
      assert.equal(error.detail, 'Version v2 of the key of "p" was not accepted (probe answered HTTP 401); the previous version stays in use.');
      return true;
    });
  });

  test("a value that cannot form a credential is rejected without a call and without being quoted", async () => {
    for (const [config, value] of [
      [{}, "CANARY-line\nbreak"],
      [{ scheme: "basic" }, "CANARY-not-json"],
    ] as const) {
      const t = setup(config, []);
      await assert.rejects(t.probe.check(version(value)), (error: Error) => {
        assert.ok(error instanceof ProbeRejectedError);
        assert.match(error.message, /not a usable credential/);
        assert.ok(!error.message.includes("CANARY"));
        return true;
      });
      assert.deepEqual(t.sent, []);
    }
  });

  test("a partner that keeps failing is unavailable, not a rejection of the version", async () => {
    const t = setup({}, [503, 503]);
    await assert.rejects(t.probe.check(version("CANARY-new")), (error: Error & { code?: string }) => {
      assert.ok(!(error instanceof ProbeRejectedError));
      assert.equal(error.code, "upstream_unavailable");
      return true;
    });
    assert.equal(t.sent.length, 2, "retried by the upstream policy");
  });
});
