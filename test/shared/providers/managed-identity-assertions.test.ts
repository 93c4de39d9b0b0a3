import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EntraAuthority } from "../../../dev/sandbox/entra-authority.js";
import { serveHandlers, type ServedHandlers } from "../../../dev/sandbox/serve.js";
import { ensureDevTls } from "../../../dev/tls.js";
import { EntraProviderSchema } from "../../../shared/config/entra-schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { EntraSource } from "../../../shared/providers/entra-source.js";
import { ManagedIdentityAssertions } from "../../../shared/providers/managed-identity-assertions.js";
import { UpstreamCaller } from "../../../shared/upstream/upstream-caller.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";

/**
 * clientAuth "managed-identity-federation" through the real ManagedIdentityCredential (MSAL's App
 * Service source, reading IDENTITY_ENDPOINT/IDENTITY_HEADER as in Azure) and the real
 * ClientAssertionCredential, against the sandbox authority's identity endpoint and token endpoint.
 */
const APP_TENANT = "a0000000-0000-4000-8000-0000000000a2";
const PARTNER_TENANT = "b0000000-0000-4000-8000-0000000000b2";
const IDENTITY = { tenantId: APP_TENANT, principalId: "1d000000-0000-4000-8000-00000000001d", clientId: "1d000000-0000-4000-8000-0000000000c1" };
const FEDERATED_CLIENT = "fed00000-0000-4000-8000-0000000000f2";
const UNTRUSTING_CLIENT = "fed00000-0000-4000-8000-0000000000f3";
const SCOPE = "api://partner-api/.default";

let served: ServedHandlers;
let authority: EntraAuthority;
const savedEnv = { IDENTITY_ENDPOINT: process.env.IDENTITY_ENDPOINT, IDENTITY_HEADER: process.env.IDENTITY_HEADER };

before(async () => {
  const tls = await ensureDevTls();
  authority = new EntraAuthority({ origin: () => served.url, clients: [], managedIdentities: [IDENTITY] });
  served = await serveHandlers([authority.handler], { tls });
  const trust = [{ issuer: authority.issuer(APP_TENANT), subject: IDENTITY.principalId, audiences: ["api://AzureADTokenExchange"] }];
  authority.addClient({ tenantId: PARTNER_TENANT, clientId: FEDERATED_CLIENT, allowedScopes: [SCOPE], federatedCredentials: trust });
  // Trusts another subject only: the broker's identity must be refused.
  const otherSubject = [{ ...trust[0]!, subject: "00000000-0000-4000-8000-00000000dead" }];
  authority.addClient({ tenantId: PARTNER_TENANT, clientId: UNTRUSTING_CLIENT, allowedScopes: [SCOPE], federatedCredentials: otherSubject });
  // What the Functions host sets for the app; MSAL reads it from the process environment.
  Object.assign(process.env, authority.managedIdentityEnv());
});

after(async () => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await served.close();
});

function federatedSource(clientId: string, identity = new ManagedIdentityAssertions()) {
  const clock = new ManualClock(Date.now());
  const logger = new MemoryLogger();
  const config = EntraProviderSchema.parse({
    kind: "entra",
    tenantId: PARTNER_TENANT,
    clientId,
    clientAuth: "managed-identity-federation",
    scope: SCOPE,
    authorityHost: served.url,
    disableInstanceDiscovery: true,
    upstream: { maxAttempts: 2, baseDelayMs: 10 },
  });
  const caller = new UpstreamCaller("partner", config.upstream, { clock, sleeper: clock, random: () => 0.5, logger });
  const source = new EntraSource({ name: "partner", config, secrets: new MemorySecretStore(), clock, caller, managedIdentity: identity });
  return { source, logger, clock };
}

async function issue(source: EntraSource, force = false) {
  return (await source.prepare()).issue({ force });
}

describe("Entra provider with managed identity federation", () => {
  test("obtains a partner token with no secret in the store, the managed identity token being the assertion", async () => {
    const before = authority.identityRequests;
    const { source } = federatedSource(FEDERATED_CLIENT);
    const credential = await issue(source);
    const claims = await authority.verifyAccessToken(credential.accessToken!, { audience: "api://partner-api", tenantId: PARTNER_TENANT });
    assert.equal(claims?.appid, FEDERATED_CLIENT);
    assert.equal(claims?.azpacr, "2", "authenticated by client assertion");
    assert.ok(authority.identityRequests > before, "the identity endpoint was asked");
  });

  test("a forced refresh fetches a new partner token while the identity token is reused", async () => {
    const identity = new ManagedIdentityAssertions();
    const { source } = federatedSource(FEDERATED_CLIENT, identity);
    const first = await issue(source);
    const identityBefore = authority.identityRequests;
    const second = await issue(source, true);
    assert.notEqual(first.accessToken, second.accessToken);
    assert.equal(authority.identityRequests, identityBefore, "MSAL's cached managed identity token served as the assertion");
  });

  test("an app registration that does not trust the identity is upstream_rejected, with Entra's code and no token in the error", async () => {
    const { source, logger } = federatedSource(UNTRUSTING_CLIENT);
    const assertion = await new ManagedIdentityAssertions().assertion({ audience: "api://AzureADTokenExchange" });
    await assert.rejects(issue(source), (e: unknown) => {
      assert.ok(e instanceof BrokerError);
      assert.equal(e.code, "upstream_rejected");
      assert.match(e.detail, /invalid_client, AADSTS700213/);
      assert.ok(!JSON.stringify(e).includes(assertion) && !e.detail.includes(assertion));
      return true;
    });
    assert.ok(!logger.lines.join("\n").includes(assertion), "the assertion never reaches a log line");
  });

  test("an unreachable identity endpoint is a transient failure (503), never a secret_unavailable", async () => {
    const saved = process.env.IDENTITY_HEADER;
    process.env.IDENTITY_HEADER = "not-the-header";
    try {
      // A user-assigned id the process has not cached yet, so MSAL must ask the endpoint.
      const identity = new ManagedIdentityAssertions();
      const config = { audience: "api://AzureADTokenExchange", managedIdentityClientId: "99999999-0000-4000-8000-000000000099" };
      await assert.rejects(identity.assertion(config), (e: unknown) => {
        assert.ok(e instanceof Error && e.name === "UpstreamFailure");
        assert.equal((e as { kind?: string }).kind, "transient");
        assert.match(e.message, /^managed identity token unavailable \(\w+\)$/);
        return true;
      });
    } finally {
      process.env.IDENTITY_HEADER = saved;
    }
  });
});
