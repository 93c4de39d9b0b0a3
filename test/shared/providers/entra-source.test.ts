import type { AccessToken, TokenCredential } from "@azure/identity";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { fingerprint } from "../../../shared/log/fingerprint.js";
import type { EntraCredentialFactory, EntraCredentialOptions } from "../../../shared/providers/entra-client-auth.js";
import {
  AUTH_KEY,
  authority,
  BUS_SCOPE,
  CLIENT,
  CLIENT_SECRET,
  harness,
  issue,
  SCOPE,
  secrets,
  served,
  TENANT,
  useEntraAuthority,
} from "./entra-harness.js";

describe("EntraSource with the real Azure Identity credentials", () => {
  useEntraAuthority();

  test("obtains a bearer token with the configured audience and tenant from the authority", async () => {
    const h = harness();
    const before = authority.requestsFor(CLIENT, SCOPE);
    const credential = await issue(h);
    assert.equal(authority.requestsFor(CLIENT, SCOPE) - before, 1);
    assert.equal(credential.tokenType, "Bearer");
    assert.ok(credential.accessToken);
    const claims = await authority.verifyAccessToken(credential.accessToken, { audience: "api://p1-test", tenantId: TENANT });
    assert.ok(claims, "the token verifies against the authority");
    assert.equal(claims.appid, CLIENT);
    assert.equal(claims.tid, TENANT);
    assert.equal(claims.iss, `${served.url}/${TENANT}/v2.0`);
    assert.deepEqual(credential.headers, { Authorization: `Bearer ${credential.accessToken}` });
    assert.equal(credential.fingerprint, fingerprint(credential.accessToken));
    assert.equal(credential.issuedAt, h.clock.now());
    const lifetimeSec = (credential.expiresAt - credential.issuedAt) / 1000;
    assert.ok(lifetimeSec > 3590 && lifetimeSec <= 3600, `lifetime ${lifetimeSec}s`);
  });

  test("serves the Service Bus scope of the same client as its own audience", async () => {
    const credential = await issue(harness({ scope: BUS_SCOPE }));
    const claims = await authority.verifyAccessToken(credential.accessToken!, { audience: "https://servicebus.azure.net", tenantId: TENANT });
    assert.equal(claims?.appid, CLIENT);
  });

  test("goes to the authority on every issue instead of answering from MSAL's token cache", async () => {
    const h = harness();
    const before = authority.requestsFor(CLIENT, SCOPE);
    const prepared = await h.source.prepare();
    const first = await prepared.issue({ force: false });
    const second = await prepared.issue({ force: true });
    assert.equal(authority.requestsFor(CLIENT, SCOPE) - before, 2);
    assert.notEqual(first.accessToken, second.accessToken);
  });

  test("adds the configured extra headers, secret-backed and literal, next to Authorization", async () => {
    const h = harness({ headers: { AuthKey: { secret: "flowe-authkey" }, Partner: "acme", "User-Agent": "API-CLIENT" } });
    const credential = await issue(h);
    assert.deepEqual(credential.headers, {
      AuthKey: AUTH_KEY,
      Partner: "acme",
      "User-Agent": "API-CLIENT",
      Authorization: `Bearer ${credential.accessToken}`,
    });
  });

  test("keeps the cache key while nothing changes and changes it with a new secret or header version", async () => {
    const h = harness({ headers: { AuthKey: { secret: "flowe-authkey" } } });
    const first = (await h.source.prepare()).cacheKey;
    assert.equal((await h.source.prepare()).cacheKey, first);
    assert.ok(first.startsWith("flowe:"));
    await secrets.set("flowe-client-secret", CLIENT_SECRET);
    const afterSecret = (await h.source.prepare()).cacheKey;
    assert.notEqual(afterSecret, first);
    await secrets.set("flowe-authkey", AUTH_KEY);
    assert.notEqual((await h.source.prepare()).cacheKey, afterSecret);
    assert.notEqual((await harness({ scope: BUS_SCOPE }).source.prepare()).cacheKey, first);
    assert.ok(!first.includes(CLIENT_SECRET));
  });

  test("caps the lifetime at the configured maximum", async () => {
    const h = harness({ cache: { maxTtlSec: 600 } });
    const credential = await issue(h);
    assert.equal(credential.expiresAt, h.clock.now() + 600_000);
  });

  test("never lets the client secret into logs, errors or error causes", async () => {
    const h = harness({ headers: { AuthKey: { secret: "flowe-authkey" } } });
    const ok = await issue(h);
    assert.ok(ok.accessToken);
    // The store now holds a secret the authority no longer accepts: the failure path must stay clean too.
    const wrong = `CANARY-${crypto.randomUUID()}`;
    await secrets.set("flowe-client-secret", wrong);
    authority.faults.push({ status: 503 });
    const failure = await issue(h).then(
      () => assert.fail("expected a rejection"),
      (e: unknown) => e,
    );
    assert.ok(failure instanceof BrokerError && failure.code === "upstream_rejected");
    const text = [errorText(failure), ...h.logger.lines].join("\n");
    for (const canary of [CLIENT_SECRET, wrong, AUTH_KEY, ok.accessToken]) {
      assert.ok(!text.includes(canary), "a secret or token leaked into an error or a log line");
    }
    assert.ok(!/AADSTS7000215:/.test(failure.detail), "the partner's error description stays out of the detail");
  });

  test("builds a fresh credential per issue with SDK retries off and the recorder policy per retry", async () => {
    const calls: { kind: string; tenantId: string; clientId: string; options: EntraCredentialOptions }[] = [];
    const factory: EntraCredentialFactory = (tenantId, clientId, auth, options) => {
      calls.push({ kind: auth.kind, tenantId, clientId, options });
      const credential: TokenCredential = {
        getToken: async (): Promise<AccessToken> => ({ token: `fake-${calls.length}`, expiresOnTimestamp: Date.now() + 3_600_000 }),
      };
      return credential;
    };
    const h = harness({}, factory);
    const prepared = await h.source.prepare();
    await prepared.issue({ force: false });
    const second = await prepared.issue({ force: true });
    assert.equal(calls.length, 2);
    assert.equal(second.accessToken, "fake-2");
    const options = calls[0]!.options;
    assert.equal(calls[0]!.kind, "secret");
    assert.equal(options.authorityHost, served.url);
    assert.equal(options.disableInstanceDiscovery, true);
    assert.deepEqual(options.retryOptions, { maxRetries: 0 });
    assert.equal(options.additionalPolicies.length, 1);
    assert.equal(options.additionalPolicies[0]!.position, "perRetry");
  });
});

/** Everything an error could show: names, messages and stacks along the cause chain. */
function errorText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    if (current instanceof Error) {
      parts.push(current.name, current.message, current.stack ?? "", JSON.stringify(current));
      current = (current as { cause?: unknown }).cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join("\n");
}
