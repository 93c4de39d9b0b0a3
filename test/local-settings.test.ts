import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { parseEnv } from "../shared/config/env.js";

test("the example local settings run the broker under Core Tools", () => {
  const local = JSON.parse(readFileSync("local.settings.example.json", "utf8")) as { IsEncrypted: boolean; Values: Record<string, string> };
  assert.equal(local.IsEncrypted, false);
  assert.equal(local.Values.FUNCTIONS_WORKER_RUNTIME, "node");
  assert.ok(local.Values.AzureWebJobsStorage, "the timer trigger needs storage");
  const env = parseEnv(local.Values);
  assert.equal(env.BROKER_CONFIG, "config/broker.config.json");
  assert.ok(existsSync("config/broker.config.example.json"), "the file to copy it from");
});

test("the real local.settings.json is git-ignored", () => {
  const ignored = readFileSync(".gitignore", "utf8").split("\n").map((l) => l.trim());
  assert.ok(ignored.includes("local.settings.json"));
});

test("Node 22 locally as in Azure, while package.json still accepts Node 20.19", () => {
  assert.equal(readFileSync(".nvmrc", "utf8").trim(), "22");
  const engines = JSON.parse(readFileSync("package.json", "utf8")).engines.node as string;
  const minimum = /^>=(\d+)\.(\d+)$/.exec(engines);
  assert.ok(minimum, `engines.node ${engines} is a lower bound`);
  const accepts = (major: number, minor: number) => major > Number(minimum[1]) || (major === Number(minimum[1]) && minor >= Number(minimum[2]));
  assert.ok(accepts(20, 19) && accepts(22, 0));
  assert.ok(!accepts(20, 18));
});
