import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { SecretClient } from "@azure/keyvault-secrets";
import { TokenBrokerClient, TokenBrokerError } from "@token-broker/client";
import { FLOWE } from "../../dev/sandbox/demo-identities.js";
import { ensureDevTls } from "../../dev/tls.js";
import { KeyVaultServer } from "../fakes/key-vault-server.js";
import { startDemoBroker, type DemoBroker } from "../support/demo-broker.js";
import { jsonBody } from "../support/json-body.js";

/**
 * `client.tokenCredential(provider)` driving a real Azure SDK client: `SecretClient` against a
 * loopback Key Vault that accepts only the token the broker issued for the provider's scope.
 */
const SERVICE_BUS = "flowe-servicebus";

let demo: DemoBroker;
let client: TokenBrokerClient;
const brokerRequests: string[] = [];

before(async () => {
  demo = await startDemoBroker();
  const jwt = await demo.env.issuer.mint("orders-service");
  client = new TokenBrokerClient({
    url: demo.broker.url,
    caller: () => jwt,
    fetch: (input, init) => {
      brokerRequests.push(new URL(String(input)).pathname);
      return fetch(input, init);
    },
  });
});

after(async () => {
  await demo?.close();
});

describe("client.tokenCredential() with an Azure SDK client", () => {
  test("SecretClient authenticates with the broker-issued token for the provider's scope", async () => {
    // The token the broker serves for this provider, checked against the partner authority: the only one the vault accepts.
    const served = await jsonBody(await demo.call(`/api/token/${SERVICE_BUS}`, { caller: "orders-service" }));
    assert.equal(served.scope, FLOWE.serviceBusScope, "the token response states the provider's scope");
    const claims = await demo.env.sandbox.authority.verifyAccessToken(served.access_token, { audience: "https://servicebus.azure.net", tenantId: FLOWE.tenantId });
    assert.ok(claims, "the broker's token is valid for the Service Bus audience");
    const vault = await KeyVaultServer.start({ tls: await ensureDevTls(), resource: "https://servicebus.azure.net", acceptToken: (t) => t === served.access_token });
    try {
      vault.seed("greeting", "hello");
      const secrets = new SecretClient(vault.url, client.tokenCredential(SERVICE_BUS), {
        disableChallengeResourceVerification: true,
        retryOptions: { maxRetries: 0 },
      });
      const secret = await secrets.getSecret("greeting");
      assert.equal(secret.value, "hello");
      assert.ok(vault.log.some((l) => l.authorized), "an authorized request reached the vault");
      assert.equal(vault.requests.get("unauthorized"), undefined, "no token was refused");
    } finally {
      await vault.close();
    }
  });

  test("getToken returns expiry and refresh-after times and the Bearer type", async () => {
    const token = await client.tokenCredential(SERVICE_BUS).getToken(FLOWE.serviceBusScope);
    assert.ok(token);
    assert.equal(token.tokenType, "Bearer");
    assert.ok(token.expiresOnTimestamp > Date.now() + 600_000);
    assert.ok(token.refreshAfterTimestamp! > Date.now() && token.refreshAfterTimestamp! < token.expiresOnTimestamp);
  });

  test("a scope that is not the provider's is refused before any token reaches the service", async () => {
    const vault = await KeyVaultServer.start({ tls: await ensureDevTls(), resource: "https://vault.azure.net", acceptToken: () => true });
    try {
      vault.seed("greeting", "hello");
      const secrets = new SecretClient(vault.url, client.tokenCredential(SERVICE_BUS), {
        disableChallengeResourceVerification: true,
        retryOptions: { maxRetries: 0 },
      });
      const before = brokerRequests.length;
      await assert.rejects(secrets.getSecret("greeting"), (error: Error) => {
        const chain = [error, error.cause].map((e) => String((e as Error)?.message ?? ""));
        return chain.some((m) => m.includes("issues tokens for https://servicebus.azure.net/.default, not for https://vault.azure.net/.default"));
      });
      assert.ok(vault.log.every((l) => !l.authorized), "no authenticated request");
      assert.equal(vault.requests.get("unauthorized"), undefined, "no token was sent at all");
      assert.equal(brokerRequests.length, before, "the known scope was checked before asking the broker");
    } finally {
      await vault.close();
    }
    const error = await client.tokenCredential("flowe").getToken(FLOWE.serviceBusScope).catch((e: unknown) => e);
    assert.ok(error instanceof TokenBrokerError && error.code === "scope_mismatch");
  });

  test("a provider without a scoped token cannot serve an Azure SDK client", async () => {
    const phix = new TokenBrokerClient({ url: demo.broker.url, caller: async () => demo.env.issuer.mint("payments-service") });
    const error = await phix.tokenCredential("phixflow").getToken("https://x/.default").catch((e: unknown) => e);
    assert.ok(error instanceof TokenBrokerError && error.code === "scope_mismatch");
  });
});
