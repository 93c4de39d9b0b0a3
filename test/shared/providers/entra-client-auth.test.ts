import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EntraProviderSchema, TOKEN_EXCHANGE_AUDIENCE } from "../../../shared/config/entra-schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { resolveEntraClientAuth } from "../../../shared/providers/entra-client-auth.js";
import { ManagedIdentityAssertions } from "../../../shared/providers/managed-identity-assertions.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { authority, CERT_CLIENT, harness, issue, secrets, TENANT, useEntraAuthority } from "./entra-harness.js";

describe("EntraSource with the real Azure Identity credentials", () => {
  useEntraAuthority();

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
});

describe("resolveEntraClientAuth", () => {
  const federated = { kind: "entra", tenantId: "t", clientId: "c", scope: "api://p1-test/.default", clientAuth: "managed-identity-federation" };

  test("federation reads no secret and asks the managed identity for a token of the public-cloud audience", async () => {
    const scopes: string[] = [];
    const identity = new ManagedIdentityAssertions(() => ({
      getToken: async (scope: string | string[]) => {
        scopes.push(String(scope));
        return { token: "identity-token", expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    }));
    const auth = await resolveEntraClientAuth("partner", EntraProviderSchema.parse(federated), {
      secrets: new MemorySecretStore(),
      managedIdentity: identity,
    });
    assert.deepEqual(auth.versions, []);
    assert.equal(auth.value.kind, "federated");
    assert.equal(auth.value.kind === "federated" ? await auth.value.getAssertion() : undefined, "identity-token");
    assert.deepEqual(scopes, [`${TOKEN_EXCHANGE_AUDIENCE}/.default`]);
  });

  test("federation without a wired managed identity is an internal error naming the provider", async () => {
    await assert.rejects(
      resolveEntraClientAuth("partner", EntraProviderSchema.parse(federated), { secrets: new MemorySecretStore() }),
      (e: unknown) => e instanceof BrokerError && e.code === "internal" && /"partner"/.test(e.detail),
    );
  });
});
