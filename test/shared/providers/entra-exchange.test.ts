import { AuthenticationError } from "@azure/identity";
import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, test } from "node:test";
import { serveHandlers } from "../../../dev/sandbox/serve.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import type { EntraCredentialFactory } from "../../../shared/providers/entra-client-auth.js";
import { classifyEntraError } from "../../../shared/providers/entra-exchange.js";
import { UpstreamFailure } from "../../../shared/upstream/upstream-failure.js";
import { waitUntil } from "../../support/wait-until.js";
import { authority, CLIENT, CLIENT_SECRET, harness, issue, SCOPE, TENANT, tls, useEntraAuthority } from "./entra-harness.js";

describe("EntraSource with the real Azure Identity credentials", () => {
  useEntraAuthority();

  test("reports a wrong secret as upstream_rejected after exactly one token request", async () => {
    authority.setClientSecret(TENANT, CLIENT, `rotated-${crypto.randomUUID()}`);
    const h = harness();
    const before = authority.requestsFor(CLIENT, SCOPE);
    await assert.rejects(issue(h), (e: unknown) => {
      assert.ok(e instanceof BrokerError);
      assert.equal(e.code, "upstream_rejected");
      assert.match(e.detail, /HTTP 401 \(invalid_client, AADSTS7000215\)/);
      return true;
    });
    assert.equal(authority.requestsFor(CLIENT, SCOPE) - before, 1);
    assert.deepEqual(h.clock.sleeps, []);
    assert.equal(h.source.provider, "flowe");
  });

  test("reports a scope the client may not request as upstream_rejected without retrying", async () => {
    const h = harness({ scope: "api://p1-prod/.default" });
    const before = authority.requestsFor(CLIENT, "api://p1-prod/.default");
    await assert.rejects(issue(h), (e: unknown) => e instanceof BrokerError && e.code === "upstream_rejected" && /invalid_scope/.test(e.detail));
    assert.equal(authority.requestsFor(CLIENT, "api://p1-prod/.default") - before, 1);
  });

  test("reports an unknown tenant (discovery refused) as upstream_rejected without a token request", async () => {
    const h = harness({ tenantId: "not-a-tenant" });
    const before = authority.tokenRequests;
    await assert.rejects(issue(h), (e: unknown) => e instanceof BrokerError && e.code === "upstream_rejected" && /openid-configuration HTTP 400/.test(e.detail));
    assert.equal(authority.tokenRequests, before);
  });

  test("retries once after a 503 and then succeeds", async () => {
    authority.faults.push({ status: 503 });
    const h = harness();
    const before = authority.requestsFor(CLIENT, SCOPE);
    const credential = await issue(h);
    assert.ok(credential.accessToken);
    assert.equal(authority.requestsFor(CLIENT, SCOPE) - before, 2);
    assert.deepEqual(h.clock.sleeps, [100]);
    assert.equal(h.logger.events("upstream_attempt_failed")[0]?.summary, "HTTP 503 (temporarily_unavailable, AADSTS90033)");
  });

  test("honours Retry-After on a 429 before retrying", async () => {
    authority.faults.push({ status: 429, retryAfterSec: 1 });
    const h = harness();
    const before = authority.requestsFor(CLIENT, SCOPE);
    await issue(h);
    assert.deepEqual(h.clock.sleeps, [1000]);
    assert.equal(authority.requestsFor(CLIENT, SCOPE) - before, 2);
  });

  test("reports a garbled 200 as an unusable response, not retried", async () => {
    authority.faults.push({ garbage: true });
    const h = harness();
    const before = authority.requestsFor(CLIENT, SCOPE);
    await assert.rejects(issue(h), (e: unknown) => e instanceof BrokerError && e.code === "upstream_rejected" && /unusable response/.test(e.detail));
    assert.equal(authority.requestsFor(CLIENT, SCOPE) - before, 1);
  });

  test("retries a dropped connection as a transient failure", async () => {
    authority.faults.push({ destroy: true });
    const h = harness();
    const credential = await issue(h);
    assert.ok(credential.accessToken);
    assert.equal(h.clock.sleeps.length, 1);
  });

  test("gives up on an authority that does not answer in time and cancels the pending request", async () => {
    authority.faults.push({ delayMs: 30_000 });
    const abandoned = once(authority.events, "abandoned", { signal: AbortSignal.timeout(3000) });
    const h = harness({ upstream: { maxAttempts: 1, timeoutMs: 150 } });
    const sent = authority.tokenRequests;
    const running = assert.rejects(issue(h), (e: unknown) => e instanceof BrokerError && e.code === "upstream_unavailable" && /timed out/.test(e.detail));
    // The attempt's timeout runs on the manual clock: move it once the token request is under way.
    await waitUntil(() => authority.tokenRequests > sent, "the token request arrives");
    h.clock.advance(150);
    await running;
    // MSAL does not pass the abort signal down; without the recorder policy the request would linger.
    await abandoned;
  });

  test("reports an authority that is down as upstream_unavailable after the configured attempts", async () => {
    const gone = await serveHandlers([], { tls });
    await gone.close();
    const h = harness({ authorityHost: gone.url, upstream: { maxAttempts: 2 } });
    await assert.rejects(issue(h), (e: unknown) => {
      assert.ok(e instanceof BrokerError);
      assert.equal(e.code, "upstream_unavailable");
      assert.match(e.detail, /network error \(ECONNREFUSED\)/);
      assert.ok(e.retryAfterSec !== undefined && e.retryAfterSec >= 1);
      return true;
    });
    assert.equal(h.clock.sleeps.length, 1);
  });

  test("classifies an AuthenticationError raised without a request as a rejection", async () => {
    const factory: EntraCredentialFactory = () => ({
      getToken: async () => {
        throw new AuthenticationError(401, { error: "invalid_client", error_description: `AADSTS7000215: nope ${CLIENT_SECRET}` });
      },
    });
    const h = harness({}, factory);
    await assert.rejects(issue(h), (e: unknown) => {
      assert.ok(e instanceof BrokerError);
      assert.equal(e.code, "upstream_rejected");
      assert.match(e.detail, /HTTP 401 \(invalid_client\)/);
      assert.ok(!e.detail.includes(CLIENT_SECRET));
      return true;
    });
    assert.deepEqual(h.clock.sleeps, []);
  });
});

describe("classifyEntraError", () => {
  test("a request timeout seen on the wire is transient, a 2xx the SDK could not use is invalid", () => {
    const timeout = classifyEntraError(new Error("x"), { step: "token", status: 408 }, "flowe");
    assert.ok(timeout instanceof UpstreamFailure);
    assert.equal(timeout.kind, "transient");
    assert.equal(timeout.summary, "HTTP 408");
    const unusable = classifyEntraError(new Error("x"), { step: "discovery", status: 200 }, "flowe");
    assert.ok(unusable instanceof UpstreamFailure);
    assert.equal(unusable.kind, "invalid");
    assert.equal(unusable.summary, "openid-configuration HTTP 200 (response not usable)");
  });

  test("a credential that refuses its own inputs before any request is secret_unavailable", () => {
    const error = new Error(`bad secret ${CLIENT_SECRET}`);
    error.name = "CredentialUnavailableError";
    const classified = classifyEntraError(error, undefined, "flowe");
    assert.ok(classified instanceof BrokerError);
    assert.equal(classified.code, "secret_unavailable");
    assert.ok(!classified.detail.includes(CLIENT_SECRET));
  });

  test("an error name that is no identifier is reported as Error", () => {
    const error = new Error("x");
    error.name = `weird name ${CLIENT_SECRET}`;
    const classified = classifyEntraError(error, undefined, "flowe");
    assert.ok(classified instanceof UpstreamFailure);
    assert.equal(classified.summary, "client error (Error)");
  });
});
