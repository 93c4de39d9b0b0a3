import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { composeBroker, type ComposeOptions } from "../../../shared/compose.js";
import { parseEnv } from "../../../shared/config/env.js";
import { ConfigError } from "../../../shared/config/load.js";
import { findAppRoot, readConfigSource } from "../../../shared/config/source.js";
import { composeOptions } from "../../support/compose-options.js";

let appRoot: string;
let demoText: string;

before(() => {
  // A function app laid out as deployed: host.json at the root, the compiled code below it.
  appRoot = mkdtempSync(join(tmpdir(), "app-root-"));
  writeFileSync(join(appRoot, "host.json"), "{}");
  mkdirSync(join(appRoot, "dist", "functions"), { recursive: true });
  mkdirSync(join(appRoot, "config"));
  const demo = JSON.parse(readFileSync("dev/demo/broker.config.json", "utf8"));
  demo.secrets.localDir = join(appRoot, "secrets");
  demoText = JSON.stringify(demo);
  writeFileSync(join(appRoot, "config", "broker.config.json"), demoText);
});

after(() => rmSync(appRoot, { recursive: true, force: true }));

function options(env: Record<string, string>, root: string | null = appRoot): ComposeOptions {
  return composeOptions(env, { appRoot: root ?? undefined });
}

describe("findAppRoot", () => {
  it("finds the folder with host.json above the compiled function files", () => {
    assert.equal(findAppRoot(join(appRoot, "dist", "functions")), resolve(appRoot));
  });

  it("finds this repository's root from its compiled runtime, whatever the working directory", () => {
    assert.equal(findAppRoot(resolve("dist", "functions")), resolve("."));
  });

  it("answers undefined outside any function app", () => {
    assert.equal(findAppRoot("/a/b/c", () => false), undefined);
  });
});

describe("readConfigSource", () => {
  it("resolves a relative BROKER_CONFIG against the function app root, not the working directory", () => {
    assert.notEqual(resolve("."), resolve(appRoot));
    const { text, source } = readConfigSource({ BROKER_CONFIG: "config/broker.config.json" }, appRoot);
    assert.equal(text, demoText);
    assert.equal(source, join(resolve(appRoot), "config", "broker.config.json"));
  });

  it("reads the configuration from BROKER_CONFIG_JSON", () => {
    assert.deepEqual(readConfigSource({ BROKER_CONFIG_JSON: demoText }, undefined), { text: demoText, source: "BROKER_CONFIG_JSON" });
  });

  it("names the setting, the resolved path and the other source when the file is not deployed", () => {
    assert.throws(
      () => readConfigSource({ BROKER_CONFIG: "config/missing.json" }, appRoot),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.includes("BROKER_CONFIG=config/missing.json") &&
        error.message.includes(join(resolve(appRoot), "config", "missing.json")) &&
        error.message.includes("no such file") &&
        error.message.includes("BROKER_CONFIG_JSON"),
    );
  });
});

describe("configuration sources at start-up", () => {
  it("needs exactly one of BROKER_CONFIG and BROKER_CONFIG_JSON", () => {
    assert.throws(() => parseEnv({}), (e: unknown) => e instanceof ConfigError && /BROKER_CONFIG.*BROKER_CONFIG_JSON/.test(e.message));
    assert.throws(() => parseEnv({ BROKER_CONFIG: "", BROKER_CONFIG_JSON: "" }), ConfigError);
    assert.throws(() => parseEnv({ BROKER_CONFIG: "a.json", BROKER_CONFIG_JSON: "{}" }), /not both/);
  });

  it("composes from a relative BROKER_CONFIG under the app root and from BROKER_CONFIG_JSON", async () => {
    const envs: Record<string, string>[] = [{ BROKER_CONFIG: "config/broker.config.json" }, { BROKER_CONFIG_JSON: demoText }];
    for (const env of envs) {
      const broker = await composeBroker(options(env));
      assert.ok(broker.providers.has("flowe"));
      await broker.close();
    }
  });

  it("refuses to start without a configuration instead of serving nothing", async () => {
    await assert.rejects(composeBroker(options({})), ConfigError);
    await assert.rejects(composeBroker(options({ BROKER_CONFIG: "config/broker.config.json" }, null)), /no function app root/);
    const absent = join(resolve(appRoot), "config", "absent.json");
    await assert.rejects(composeBroker(options({ BROKER_CONFIG: "config/absent.json" })), (e: unknown) => e instanceof ConfigError && e.message.includes(absent));
  });
});
