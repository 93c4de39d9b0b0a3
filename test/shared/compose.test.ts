import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDevTls } from "../../dev/tls.js";
import { composeBroker, type ComposeOptions } from "../../shared/compose.js";
import { ConfigError } from "../../shared/config/load.js";
import type { CertificateFetchFactory } from "../../shared/http/client-certificate-transports.js";
import { MemorySecretStore } from "../fakes/memory-secret-store.js";
import { composeOptions } from "../support/compose-options.js";

let dir: string;
let configPath: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "compose-"));
  const demo = JSON.parse(readFileSync("dev/demo/broker.config.json", "utf8"));
  demo.secrets.localDir = join(dir, "secrets");
  configPath = join(dir, "broker.config.json");
  writeFileSync(configPath, JSON.stringify(demo));
});

after(() => rmSync(dir, { recursive: true, force: true }));

function options(env: Record<string, string>): ComposeOptions {
  return composeOptions({ BROKER_CONFIG: configPath, ...env });
}

describe("composeBroker", () => {
  it("wires the demo configuration with the local store", async () => {
    const broker = await composeBroker(options({}));
    assert.deepEqual([...broker.providers.keys()].sort(), Object.keys(broker.config.providers).sort());
    assert.ok(broker.rotation.isRotating("silverflow"));
    await broker.close();
  });

  it("refuses partner-API rotation on Key Vault without a fleet-wide lock, naming both ways out", async () => {
    await assert.rejects(composeBroker(options({ KEY_VAULT_URL: "https://vault.example.net" })), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /silverflow/);
      assert.match(e.message, /REDIS_URL/);
      assert.match(e.message, /ALLOW_IN_PROCESS_ROTATION_LOCK=true/);
      return true;
    });
    const single = await composeBroker(options({ KEY_VAULT_URL: "https://vault.example.net", ALLOW_IN_PROCESS_ROTATION_LOCK: "true" }));
    await single.close();
  });

  it("refuses at start-up a secrets.localDir that is a file, naming the setting", async () => {
    const demo = JSON.parse(readFileSync(configPath, "utf8"));
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "x");
    demo.secrets.localDir = file;
    const path = join(dir, "file-dir.json");
    writeFileSync(path, JSON.stringify(demo));
    await assert.rejects(composeBroker({ ...options({}), env: { BROKER_CONFIG: path } }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /^secrets\.localDir: ".*not-a-dir" exists and is not a directory$/);
      return true;
    });
  });

  it("names a configuration path that is a directory", async () => {
    await assert.rejects(composeBroker({ ...options({}), env: { BROKER_CONFIG: dir } }), /is a directory, not a configuration file/);
  });

  it("closes the mutual-TLS connection pools of tls_client_auth providers on close", async () => {
    const config = {
      providers: {
        mtls: {
          kind: "oauth2",
          tokenUrl: "https://partner.test/oauth2/token",
          clientId: "mtls-client",
          clientAuth: "tls_client_auth",
          tlsClientCertificate: { secret: "mtls-cert" },
        },
      },
      issuers: { main: { issuer: "https://issuer.test", audience: "api://broker", jwksUri: "https://issuer.test/jwks" } },
      callers: {},
    };
    const path = join(dir, "mtls.json");
    writeFileSync(path, JSON.stringify(config));
    // Any certificate with its key passes the material check; the dev server's is at hand.
    const tls = await ensureDevTls();
    const secrets = new MemorySecretStore();
    await secrets.set("mtls-cert", `${tls.cert}\n${tls.key}`);
    const pools = { opened: 0, closed: 0 };
    const certificateFetchFactory: CertificateFetchFactory = () => {
      pools.opened++;
      return {
        fetch: async () => Response.json({ access_token: "pool-token", token_type: "Bearer", expires_in: 3600 }),
        close: async () => {
          pools.closed++;
        },
      };
    };
    const broker = await composeBroker({ ...composeOptions({ BROKER_CONFIG: path }), secretStore: secrets, certificateFetchFactory });
    const prepared = await broker.providers.get("mtls")!.source.prepare();
    assert.equal((await prepared.issue({ force: false })).accessToken, "pool-token");
    assert.deepEqual(pools, { opened: 1, closed: 0 });
    await broker.close();
    assert.deepEqual(pools, { opened: 1, closed: 1 });
  });

  it("stops on a bad app setting with the setting named", async () => {
    await assert.rejects(composeBroker(options({ KEY_VAULT_URL: "http://not-https" })), /KEY_VAULT_URL/);
  });
});
