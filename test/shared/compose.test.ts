import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { composeBroker, type ComposeOptions } from "../../shared/compose.js";
import { ConfigError } from "../../shared/config/load.js";
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

  it("stops on a bad app setting with the setting named", async () => {
    await assert.rejects(composeBroker(options({ KEY_VAULT_URL: "http://not-https" })), /KEY_VAULT_URL/);
  });
});
