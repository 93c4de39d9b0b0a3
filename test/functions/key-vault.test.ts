import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ensureDevTls } from "../../dev/tls.js";
import { KeyVaultServer } from "../fakes/key-vault-server.js";
import { ManagedIdentityServer } from "../fakes/managed-identity-server.js";
import { startDemoBroker, type DemoBroker } from "../support/demo-broker.js";

/**
 * The deployable as Azure runs it: secrets in Key Vault, reached with the Function App's managed
 * identity (DefaultAzureCredential through IDENTITY_ENDPOINT). The Key Vault SDK and
 * @azure/identity are chunks of the bundle loaded on the first secret read, so this proves those
 * chunks work as bundled, and that a cold start does not wait for the vault.
 */
let msi: ManagedIdentityServer;
let vault: KeyVaultServer;
let demo: DemoBroker;

/** Nothing but the managed identity fake may be found by DefaultAzureCredential in the broker process. */
const NO_OTHER_CREDENTIAL = Object.fromEntries(
  ["AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_USERNAME", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"].map((k) => [k, ""]),
);

before(async () => {
  msi = await ManagedIdentityServer.start();
  vault = await KeyVaultServer.start({ tls: await ensureDevTls(), acceptToken: (token) => msi.isIssued(token) });
  demo = await startDemoBroker({
    appSettings: {
      ...NO_OTHER_CREDENTIAL,
      ...msi.env(),
      KEY_VAULT_URL: vault.url,
      KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: "true",
      // The demo rotates Silverflow's key through its API; this broker runs alone.
      ALLOW_IN_PROCESS_ROTATION_LOCK: "true",
    },
  });
});

after(async () => {
  await demo?.close();
  await vault?.close();
  await msi?.close();
});

describe("the bundled broker on Key Vault with a managed identity", () => {
  test("answers health before it has asked the vault or the identity endpoint anything", async () => {
    const res = await demo.call("/api/health");
    assert.equal(res.status, 200);
    assert.equal(vault.log.length, 0);
    assert.equal(msi.requestCount, 0);
  });

  test("serves a partner token with its secret read from Key Vault on the first request", async () => {
    // The vault gets the same generated partner credentials as the sandbox expects.
    for (const [name, value] of Object.entries(demo.env.sandbox.secrets)) vault.seed(name, value);
    const res = await demo.call("/api/token/flowe", { caller: "orders-service" });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { headers: Record<string, string> };
    assert.equal(body.headers.AuthKey, demo.env.sandbox.secrets["flowe-authkey"]);
    assert.ok(vault.count("get") >= 1, "the secret came from the vault");
    assert.ok(vault.log.some((l) => l.authorized), "with a token of the managed identity");
    assert.ok(msi.requestCount >= 1);
  });
});
