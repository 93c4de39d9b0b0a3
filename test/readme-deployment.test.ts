import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parseConfig } from "../shared/config/load.js";

const readme = readFileSync("README.md", "utf8");
const deployment = readme.slice(readme.indexOf("## Deployment\n"), readme.indexOf("\n## ", readme.indexOf("## Deployment\n") + 1));
const main = readFileSync("infra/main.bicep", "utf8");
const resources = readFileSync("infra/resources.bicep", "utf8");
const parameterFile = readFileSync("infra/main.parameters.json", "utf8");

describe("README deployment section", () => {
  it("takes a new user from azd up to a first token in the order the steps depend on each other", () => {
    const start = deployment.indexOf("### From `azd up` to a first token");
    assert.ok(start > 0, "the step-by-step subsection exists");
    const steps = deployment.slice(start, deployment.indexOf("\n### ", start + 1));
    // The broker's app registration (audience, token version) → the configuration (issuer,
    // callers), which ships with the code → azd up → the secrets the configuration names → a token.
    const order = [
      "requestedAccessTokenVersion",
      "cp config/broker.config.example.json config/broker.config.json",
      "issuers.entra",
      "`callers`",
      "\n   azd up ",
      "az keyvault secret set",
      "/api/token/",
    ];
    let previous = -1;
    for (const step of order) {
      const at = steps.indexOf(step);
      assert.ok(at > previous, `"${step}" comes after the step before it`);
      previous = at;
    }
  });

  it("reads only values azd stores from the template's outputs, and sets only variables the parameters file maps", () => {
    const reads = [...deployment.matchAll(/azd env get-value (\w+)/g)].map((m) => m[1]!);
    assert.ok(reads.includes("AZURE_KEY_VAULT_NAME") && reads.includes("AZURE_FUNCTION_APP_URL"));
    for (const name of reads) assert.match(main, new RegExp(`^output ${name} string = `, "m"), `${name} is an output of main.bicep`);
    const sets = [...deployment.matchAll(/azd env set (\w+)/g)].map((m) => m[1]!);
    assert.ok(sets.length >= 4);
    for (const name of sets) assert.ok(parameterFile.includes(`"\${${name}}"`), `${name} is mapped in main.parameters.json`);
  });

  it("names the same configuration path as the app setting, and secrets the example configuration references", () => {
    const setting = /BROKER_CONFIG: '([^']+)'/.exec(resources)?.[1];
    assert.equal(setting, "config/broker.config.json");
    assert.ok(deployment.includes(`BROKER_CONFIG=${setting}`));
    const example = parseConfig(readFileSync("config/broker.config.example.json", "utf8"), "example");
    const referenced = new Set(JSON.stringify(example).match(/"secret":"[^"]+"/g)!.map((s) => s.slice(10, -1)));
    for (const m of deployment.matchAll(/az keyvault secret set --vault-name "\$VAULT" --name ([\w-]+)/g)) {
      assert.ok(referenced.has(m[1]!), `${m[1]} is a secret the example references`);
    }
  });

  it("shows func start with the example local settings for Core Tools users", () => {
    assert.match(deployment, /cp local\.settings\.example\.json local\.settings\.json/);
    assert.match(deployment, /npm run build\nfunc start/);
  });
});
