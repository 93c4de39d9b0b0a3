import { AuthenticationError, type AccessToken, type TokenCredential } from "@azure/identity";
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, beforeEach, describe, test } from "node:test";
import { EntraAuthority } from "../../../dev/sandbox/entra-authority.js";
import { serveHandlers, type ServedHandlers } from "../../../dev/sandbox/serve.js";
import { ensureDevTls, type DevTls } from "../../../dev/tls.js";
import { EntraProviderSchema, type EntraProviderConfig } from "../../../shared/config/entra-schema.js";
import { fingerprint } from "../../../shared/log/fingerprint.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import {
  EntraSource,
  type EntraCredentialFactory,
  type EntraCredentialOptions,
} from "../../../shared/providers/entra-source.js";
import { UpstreamCaller } from "../../../shared/upstream/upstream-caller.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { waitUntil } from "../../support/wait-until.js";
import { ManualClock } from "../../support/manual-clock.js";
import { selfSignedClientCertificate } from "../../support/client-certificate.js";

const TENANT = "f10we000-0000-4000-8000-000000000001";
const CLIENT = "c11e0000-0000-4000-8000-000000000001";
const CERT_CLIENT = "c11e0000-0000-4000-8000-000000000002";
const SCOPE = "api://p1-test/.default";
const BUS_SCOPE = "https://servicebus.azure.net/.default";
const CLIENT_SECRET = `CANARY-${crypto.randomUUID()}`;
const AUTH_KEY = `CANARY-${crypto.randomUUID()}`;


interface Harness {
  source: EntraSource;
  clock: ManualClock;
  logger: MemoryLogger;
  config: EntraProviderConfig;
}

describe("EntraSource with the real Azure Identity credentials", () => {
  let tls: DevTls;
  let served: ServedHandlers;
  let authority: EntraAuthority;
  let secrets: MemorySecretStore;
  let certificatePem: string;

  before(async () => {
    tls = await ensureDevTls();
    const cert = await selfSignedClientCertificate("broker-cert-client");
    certificatePem = `${cert.privateKeyPem}\n${cert.certificatePem}`;
    authority = new EntraAuthority({
      origin: () => served.url,
      clients: [
        { tenantId: TENANT, clientId: CLIENT, clientSecret: CLIENT_SECRET, allowedScopes: [SCOPE, BUS_SCOPE] },
        { tenantId: TENANT, clientId: CERT_CLIENT, certificatePem: cert.certificatePem, allowedScopes: [SCOPE] },
      ],
    });
    served = await serveHandlers([authority.handler], { tls });
  });

  after(async () => {
    await served.close();
  });

  beforeEach(async () => {
    authority.faults.length = 0;
    authority.setClientSecret(TENANT, CLIENT, CLIENT_SECRET);
    secrets = new MemorySecretStore();
    await secrets.set("flowe-client-secret", CLIENT_SECRET);
    await secrets.set("flowe-authkey", AUTH_KEY);
    await secrets.set("broker-cert", certificatePem);
  });

  function harness(overrides: Record<string, unknown> = {}, factory?: EntraCredentialFactory): Harness {
    // The SDK stamps expiry with the real clock, so the manual one starts at real time.
    const clock = new ManualClock(Date.now());
    const logger = new MemoryLogger();
    const config = EntraProviderSchema.parse({
      kind: "entra",
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: { secret: "flowe-client-secret" },
      scope: SCOPE,
      authorityHost: served.url,
      disableInstanceDiscovery: true,
      upstream: { maxAttempts: 3, baseDelayMs: 200, timeoutMs: 5000 },
      ...overrides,
    });
    const caller = new UpstreamCaller("flowe", config.upstream, { clock, sleeper: clock, random: () => 0.5, logger });
    const source = new EntraSource({ name: "flowe", config, secrets, clock, caller, credentialFactory: factory });
    return { source, clock, logger, config };
  }

  async function issue(h: Harness, force = false) {
    const prepared = await h.source.prepare();
    return prepared.issue({ force });
  }

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

  test("authenticates with a certificate through ClientCertificateCredential", async () => {
    const h = harness({ clientId: CERT_CLIENT, clientSecret: undefined, certificate: { secret: "broker-cert" } });
    const credential = await issue(h);
    const claims = await authority.verifyAccessToken(credential.accessToken!, { audience: "api://p1-test", tenantId: TENANT });
    assert.equal(claims?.appid, CERT_CLIENT);
    assert.equal(claims?.azpacr, "2", "authenticated by client assertion");
  });

  test("refuses a certificate secret that is not a PEM with certificate and key, before calling the authority", async () => {
    await secrets.set("broker-cert", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const h = harness({ clientId: CERT_CLIENT, clientSecret: undefined, certificate: { secret: "broker-cert" } });
    const before = authority.tokenRequests;
    await assert.rejects(h.source.prepare(), (e: unknown) => e instanceof BrokerError && e.code === "secret_unavailable" && /broker-cert/.test(e.detail));
    assert.equal(authority.tokenRequests, before);
  });

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

