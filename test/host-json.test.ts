import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const host = JSON.parse(readFileSync("host.json", "utf8"));

test("Application Insights sampling never drops the broker's log lines, audit records included", () => {
  // The broker writes its lines to stdout; the host logs a worker's stdout as traces of the category
  // Host.Function.Console. Sampling can exclude only whole telemetry types, so Trace must be excluded
  // (or sampling be off) for no token_issued / token_denied / admin_action / rotation_* line to be lost.
  const sampling = host.logging?.applicationInsights?.samplingSettings;
  const excluded = String(sampling?.excludedTypes ?? "").split(";").map((t: string) => t.trim());
  assert.ok(sampling?.isEnabled === false || excluded.includes("Trace"), "traces are not sampled");
  assert.ok(!String(sampling?.includedTypes ?? "").includes("Trace"));
  const runtime = readFileSync("functions/runtime.ts", "utf8");
  assert.match(runtime, /process\.stdout\.write\(chunk\)/, "log lines go to stdout");
});

test("the host keeps the console category at Information, where every stdout line is logged", () => {
  const levels: Record<string, string> = host.logging?.logLevel ?? {};
  const order = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"];
  const level = levels["Host.Function.Console"] ?? levels["Host.Function"] ?? levels.Host ?? levels.default ?? "Information";
  assert.ok(order.indexOf(level) <= order.indexOf("Information"), `Host.Function.Console at ${level}`);
});
