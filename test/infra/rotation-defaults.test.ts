import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { composeBroker } from "../../shared/compose.js";
import { ConfigError } from "../../shared/config/load.js";
import { composeOptions } from "../support/compose-options.js";
import { block, params, readInfra } from "./bicep-text.js";

const mainParams = params(readInfra("main.bicep"));
const settings = block(readInfra("resources.bicep"), /^resource appSettings /m);

/** The Bicep expression for ALLOW_IN_PROCESS_ROTATION_LOCK, evaluated for given parameters. */
function allowInProcessLock(enableRedis: boolean, maximumInstanceCount: number): string {
  const m = /ALLOW_IN_PROCESS_ROTATION_LOCK: (\([!\w &=]+\)) \? 'true' : 'false'/.exec(settings);
  assert.ok(m, "ALLOW_IN_PROCESS_ROTATION_LOCK is a condition on the parameters");
  // The expression uses only !, &&, == and the two parameters: the same in Bicep and JavaScript.
  const condition = new Function("enableRedis", "maximumInstanceCount", `return ${m[1]};`) as (r: boolean, n: number) => boolean;
  return condition(enableRedis, maximumInstanceCount) ? "true" : "false";
}

/** Starts the broker with the example configuration (partner-API rotation) and the settings infra would set without Redis. */
async function startWithoutRedis(maximumInstanceCount: number) {
  const env = {
    BROKER_CONFIG: "config/broker.config.example.json",
    KEY_VAULT_URL: "https://kv-aaaaaaaaaaaaa.vault.azure.net/",
    REDIS_URL: "",
    ALLOW_IN_PROCESS_ROTATION_LOCK: allowInProcessLock(false, maximumInstanceCount),
  };
  return composeBroker(composeOptions(env, { appRoot: process.cwd() }));
}

describe("Redis and rotation defaults", () => {
  it("turns Redis on by default, so partner-API rotation works at the default scale", () => {
    assert.equal(mainParams.get("enableRedis")?.default, "true");
    assert.equal(mainParams.get("maximumInstanceCount")?.default, "40");
    assert.match(settings, /REDIS_URL: enableRedis \? 'rediss:/);
    assert.equal(allowInProcessLock(true, 40), "false", "with Redis the fleet-wide lock is used");
  });

  it("without Redis, allows the in-process rotation lock for a single instance only", async () => {
    assert.equal(allowInProcessLock(false, 1), "true");
    const single = await startWithoutRedis(1);
    assert.ok(single.rotation.isRotating("silverflow"));
    await single.close();

    assert.equal(allowInProcessLock(false, 40), "false");
    await assert.rejects(startWithoutRedis(40), (e: unknown) => e instanceof ConfigError && /REDIS_URL/.test(e.message));
  });

  it("documents both choices in the README", () => {
    const readme = readFileSync("README.md", "utf8");
    assert.match(readme, /azd env set ENABLE_REDIS false/);
    assert.match(readme, /azd env set MAXIMUM_INSTANCE_COUNT 1/);
    assert.match(readme, /Redis is on by default/);
  });
});
