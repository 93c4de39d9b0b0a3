import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { INSTRUMENTS, SPANS } from "../../shared/telemetry/instruments.js";

/**
 * The alerts and the workbook in infra/ query the names the code emits. A renamed metric or
 * attribute would leave an alert that never fires and a chart that stays empty, silently: this
 * test makes it fail instead.
 */
const METRICS = new Map<string, Set<string>>(Object.values(INSTRUMENTS).map((spec) => [spec.name, new Set<string>(spec.attributes)]));
const KNOWN_NAMES = new Set<string>([...METRICS.keys(), ...Object.values(SPANS)]);

/** What is wrong with one query: names the code does not emit, attributes none of its metrics carry. */
function problems(query: string): string[] {
  const found: string[] = [];
  const names = [...query.matchAll(/token_broker\.[a-z_.]*[a-z_]/g)].map((m) => m[0]);
  for (const name of names) if (!KNOWN_NAMES.has(name)) found.push(`unknown name ${name}`);
  const metrics = names.filter((n) => METRICS.has(n));
  for (const [, attribute] of query.matchAll(/customDimensions\[["']([^"']+)["']\]/g)) {
    if (!metrics.some((m) => METRICS.get(m)!.has(attribute!))) found.push(`attribute ${attribute} on none of [${metrics.join(", ")}]`);
  }
  if (/customMetrics/.test(query) && metrics.length === 0) found.push("a customMetrics query naming no known metric");
  return found;
}

function bicepQueries(): string[] {
  const bicep = readFileSync("infra/monitoring.bicep", "utf8");
  return [...bicep.matchAll(/'''([\s\S]*?)'''/g)].map((m) => m[1]!);
}

function workbookQueries(): string[] {
  const queries: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (typeof node === "object" && node !== null) {
      for (const [key, value] of Object.entries(node)) {
        if (key === "query" && typeof value === "string") queries.push(value);
        else walk(value);
      }
    }
  };
  walk(JSON.parse(readFileSync("infra/workbook.json", "utf8")));
  return queries;
}

describe("infra monitoring names", () => {
  it("every alert query names metrics and attributes from the instrument registry", () => {
    const queries = bicepQueries();
    assert.equal(queries.length, 7, "one query per alert rule");
    for (const query of queries) assert.deepEqual(problems(query), [], query);
  });

  it("every workbook query names metrics and attributes from the instrument registry", () => {
    const queries = workbookQueries();
    assert.ok(queries.length >= 10);
    for (const query of queries) assert.deepEqual(problems(query), [], query);
  });

  it("no other token_broker name anywhere in infra/ (descriptions included)", () => {
    for (const file of ["infra/monitoring.bicep", "infra/workbook.json", "infra/main.bicep"]) {
      const names = [...readFileSync(file, "utf8").matchAll(/token_broker\.[a-z_.]*[a-z_]/g)].map((m) => m[0]);
      assert.deepEqual(names.filter((n) => !KNOWN_NAMES.has(n)), [], file);
    }
  });

  it("the check itself catches a renamed metric and an attribute the metric does not carry", () => {
    assert.deepEqual(problems('customMetrics | where name == "token_broker.token.request_count"'), [
      "unknown name token_broker.token.request_count",
      "a customMetrics query naming no known metric",
    ]);
    assert.deepEqual(problems('customMetrics | where name == "token_broker.rotation.key_age" | extend c = customDimensions["caller"]'), [
      "attribute caller on none of [token_broker.rotation.key_age]",
    ]);
  });

  it("every alert has a runbook entry in the README", () => {
    const readme = readFileSync("README.md", "utf8");
    const bicep = readFileSync("infra/monitoring.bicep", "utf8");
    const runbooks = [...bicep.matchAll(/Runbook: README "Observability" > ([^.']+)\./g)].map((m) => m[1]!);
    assert.equal(runbooks.length, 7);
    for (const entry of runbooks) assert.ok(readme.includes(`**${entry}**`), `README runbook entry "${entry}"`);
  });
});
