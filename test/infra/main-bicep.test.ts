import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parseEnv } from "../../shared/config/env.js";
import { block, interpolate, params, readInfra, resources, stringEntries } from "./bicep-text.js";

const main = readInfra("main.bicep");
const res = readInfra("resources.bicep");
const mainParams = params(main);
const resParams = params(res);
const azureYaml = readFileSync("azure.yaml", "utf8");
const parameterFile = JSON.parse(readInfra("main.parameters.json")) as { parameters: Record<string, { value: string }> };

/** Each name's rule, from Azure's naming rules for the resource type. */
const NAME_RULES: Record<string, RegExp> = {
  storage: /^[a-z0-9]{3,24}$/,
  deploymentContainer: /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/,
  logAnalytics: /^[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$/,
  applicationInsights: /^[^%&\\?/]{1,260}$/,
  keyVault: /^(?!.*--)[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/,
  plan: /^[A-Za-z0-9-]{1,60}$/,
  functionApp: /^(?!.*--)[a-z0-9][a-z0-9-]{0,58}[a-z0-9]$/,
  redis: /^(?=.{1,60}$)[A-Za-z0-9]+(-[A-Za-z0-9]+)*$/,
};

function serviceNameInAzureYaml(): string {
  const m = /^services:\n {2}([\w-]+):/m.exec(azureYaml);
  assert.ok(m, "azure.yaml declares a service");
  return m[1]!;
}

describe("infra naming", () => {
  it("derives every name from toLower(uniqueString(subscription().id, environmentName, location))", () => {
    assert.match(main, /^targetScope = 'subscription'$/m);
    assert.match(main, /^var resourceToken = toLower\(uniqueString\(subscription\(\)\.id, environmentName, location\)\)$/m);
    assert.match(block(main, /^module resources /m), /^\s*resourceToken: resourceToken$/m);
    const names = stringEntries(block(res, /^var names = /m));
    assert.deepEqual([...names.keys()].sort(), Object.keys(NAME_RULES).sort());
    for (const [key, template] of names) assert.match(template, /\$\{resourceToken\}/, `${key} carries the resource token`);
    // Every top-level resource is named from that object (children have fixed names).
    for (const r of resources(res)) {
      if (/\/(blobServices|databases|accessPolicyAssignments|config)$/.test(r.type) || r.type.endsWith("/roleAssignments")) continue;
      if (r.type === "Microsoft.Storage/storageAccounts/blobServices/containers") continue;
      assert.match(r.body, /^\s*name: names\.\w+$/m, `${r.symbol} is named from names`);
    }
  });

  it("keeps every name within its type's rules for any environment name and vault generation", () => {
    const environmentName = main.match(/@maxLength\((\d+)\)\n@description\([^\n]*\)\nparam environmentName string/);
    assert.ok(environmentName, "environmentName is capped");
    assert.equal(environmentName[1], "64");
    assert.deepEqual(resParams.get("resourceToken")?.decorators.filter((d) => /Length/.test(d)), ["@minLength(13)", "@maxLength(13)"]);
    assert.match(res, /^var keyVaultSuffix = keyVaultGeneration == 1 \? '' : '-\$\{keyVaultGeneration\}'$/m);
    assert.ok(mainParams.get("keyVaultGeneration")?.decorators.includes("@maxValue(99)"));
    const names = stringEntries(block(res, /^var names = /m));
    // uniqueString yields 13 characters of [a-z2-7]; try both ends of that alphabet.
    for (const resourceToken of ["aaaaaaaaaaaaa", "7777777777777", "z2z2z2z2z2z2z"]) {
      for (const keyVaultSuffix of ["", "-2", "-99"]) {
        for (const [key, template] of names) {
          const name = interpolate(template, { resourceToken, keyVaultSuffix });
          assert.match(name, NAME_RULES[key]!, `${key}: ${name}`);
        }
      }
    }
    // The resource group: 'rg-' + up to 64 characters of letters, digits and dashes, limit 90.
    assert.match(main, /^\s*name: 'rg-\$\{environmentName\}'$/m);
    assert.ok(`rg-${"A-".repeat(32)}`.length <= 90);
    const assignment = /resource redisAccess [^\n]*\n\s*parent: redisDatabase\n\s*name: '(\w+)'/.exec(res);
    assert.ok(assignment && /^[A-Za-z0-9]{1,60}$/.test(assignment[1]!), "access policy assignment names are letters and digits only");
  });

  it("tags every resource with azd-env-name and the Function App with the azure.yaml service name", () => {
    assert.match(main, /^var tags = \{ 'azd-env-name': environmentName \}$/m);
    assert.match(block(main, /^resource rg /m), /^\s*tags: tags$/m);
    assert.match(block(main, /^module resources /m), /^\s*tags: tags$/m);
    for (const r of resources(res)) {
      if (!/^\s*location: location$/m.test(r.body)) continue; // child resources and role assignments carry no tags
      assert.match(r.body, /^\s*tags: (tags|union\(tags, .*\))$/m, `${r.symbol} is tagged`);
    }
    const service = serviceNameInAzureYaml();
    assert.match(block(res, /^resource app /m), /^\s*tags: union\(tags, \{ 'azd-service-name': serviceName \}\)$/m);
    assert.match(block(main, /^module resources /m), new RegExp(`^\\s*serviceName: '${service}'$`, "m"));
    assert.match(azureYaml, /^\s+language: ts\n\s+host: function$/m);
  });
});

describe("infra runtime and access", () => {
  it("runs a Flex Consumption Function App on Node 22, with the deployment container as its package store", () => {
    const app = block(res, /^resource app /m);
    assert.match(app, /runtime: \{ name: 'node', version: '22' \}/);
    assert.match(block(res, /^resource plan /m), /sku: \{ tier: 'FlexConsumption', name: 'FC1' \}/);
    assert.match(app, /value: '\$\{storage\.properties\.primaryEndpoints\.blob\}\$\{names\.deploymentContainer\}'/);
    assert.match(app, /authentication: \{ type: 'SystemAssignedIdentity' \}/);
    assert.match(block(res, /^resource deploymentContainer /m), /name: names\.deploymentContainer/);
  });

  it("keeps Application Insights on Entra-only telemetry and exposes its id for monitoring", () => {
    assert.match(block(res, /^resource insights /m), /DisableLocalAuth: true/);
    assert.match(res, /APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'/);
    for (const output of ["APPLICATIONINSIGHTS_ID", "APPLICATIONINSIGHTS_NAME", "LOG_ANALYTICS_WORKSPACE_ID", "AZURE_FUNCTION_APP_ID"]) {
      assert.match(main, new RegExp(`^output ${output} string = `, "m"));
    }
  });

  it("gives the deploying principal Key Vault Secrets Officer, and the app identity what it needs", () => {
    assert.equal(mainParams.get("deployerPrincipalId")?.default, "deployer().objectId");
    assert.match(block(main, /^module resources /m), /deployerPrincipalId: deployerPrincipalId/);
    const officer = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
    assert.match(res, new RegExp(`keyVaultSecretsOfficer: '${officer}'`));
    const deployer = block(res, /^resource deployerVaultAccess /m);
    assert.match(deployer, /principalId: deployerPrincipalId/);
    assert.match(deployer, /roles\.keyVaultSecretsOfficer/);
    assert.match(res, /^resource deployerVaultAccess [^\n]*\n\s*scope: vault$/m);
    const grants = resources(res)
      .filter((r) => r.type === "Microsoft.Authorization/roleAssignments" && /principalId: app\.identity\.principalId/.test(r.body))
      .map((r) => /roles\.(\w+)/.exec(r.body)?.[1])
      .sort();
    assert.deepEqual(grants, ["keyVaultSecretsOfficer", "monitoringMetricsPublisher", "storageBlobDataOwner"]);
  });

  it("creates the Key Vault so that a second azd up after azd down never meets the soft-deleted name", () => {
    const vault = block(res, /^resource vault /m);
    assert.match(vault, /name: names\.keyVault/);
    assert.match(vault, /enablePurgeProtection: keyVaultPurgeProtection \? true : null/);
    assert.match(vault, /enableRbacAuthorization: true/);
    assert.equal(parameterFile.parameters.keyVaultGeneration?.value, "$" + "{KEY_VAULT_GENERATION}");
    assert.equal(parameterFile.parameters.keyVaultPurgeProtection?.value, "$" + "{KEY_VAULT_PURGE_PROTECTION}");
  });
});

describe("infra Redis", () => {
  it("provisions Azure Managed Redis, smallest Balanced SKU, TLS on 10000, Entra only, with an access policy for the app", () => {
    assert.doesNotMatch(res + main, /Microsoft\.Cache\/redis@/, "no Azure Cache for Redis");
    const cluster = resources(res).find((r) => r.type === "Microsoft.Cache/redisEnterprise");
    assert.ok(cluster, "a Microsoft.Cache/redisEnterprise cluster");
    assert.match(cluster.body, /sku: \{ name: redisSku \}/);
    assert.equal(mainParams.get("redisSku")?.default, "'Balanced_B0'");
    assert.match(mainParams.get("redisSku")!.decorators.join("\n"), /@allowed\(\['Balanced_B0'/);
    const database = block(res, /^resource redisDatabase /m);
    assert.match(database, /^\s*name: 'default'$/m);
    assert.match(database, /clientProtocol: 'Encrypted'/);
    assert.match(database, /port: 10000/);
    assert.match(database, /clusteringPolicy: 'NoCluster'/);
    assert.match(database, /accessKeysAuthentication: 'Disabled'/);
    const access = block(res, /^resource redisAccess /m);
    assert.match(res, /^resource redisAccess 'Microsoft\.Cache\/redisEnterprise\/databases\/accessPolicyAssignments@/m);
    assert.match(access, /accessPolicyName: 'default'/);
    assert.match(access, /user: \{ objectId: app\.identity\.principalId \}/);
  });

  it("hands the broker a rediss:// URL on port 10000 with Entra auth, which the broker's settings accept", () => {
    const settings = block(res, /^resource appSettings /m);
    assert.match(settings, /REDIS_URL: enableRedis \? 'rediss:\/\/\$\{redis!\.properties\.hostName\}:10000' : ''/);
    assert.match(settings, /REDIS_ENTRA_AUTH: enableRedis \? 'true' : 'false'/);
    assert.match(settings, /dependsOn: \[redisAccess\]/);
    const env = parseEnv({ BROKER_CONFIG: "config/broker.config.json", REDIS_URL: "rediss://redis-abc.westeurope.redis.azure.net:10000", REDIS_ENTRA_AUTH: "true" });
    assert.equal(env.REDIS_ENTRA_AUTH, true);
  });
});

describe("infra app settings", () => {
  it("points BROKER_CONFIG at config/broker.config.json unless the configuration is given as BROKER_CONFIG_JSON", () => {
    const settings = block(res, /^resource appSettings /m);
    assert.match(settings, /empty\(brokerConfig\) \? \{ BROKER_CONFIG: 'config\/broker\.config\.json' \} : \{ BROKER_CONFIG_JSON: string\(brokerConfig\) \}/);
    assert.equal(mainParams.get("brokerConfig")?.type, "object");
    assert.equal(parameterFile.parameters.brokerConfig?.value, "$" + "{BROKER_CONFIG_JSON}");
    const local = JSON.parse(readFileSync("local.settings.example.json", "utf8")) as { Values: Record<string, string> };
    assert.equal(local.Values.BROKER_CONFIG, "config/broker.config.json");
  });

  it("never sets an app setting the broker does not read, beyond the Functions host's own", () => {
    const settings = block(res, /^resource appSettings /m);
    const keys = [...settings.matchAll(/^\s*(?:\w+ \? \{ )?([A-Z][A-Za-z_]+): /gm), ...settings.matchAll(/\{ ([A-Z_]+): /g)].map((m) => m[1]!);
    const host = ["AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"];
    const broker = keys.filter((k) => !host.includes(k));
    const known = new Set(["BROKER_CONFIG", "BROKER_CONFIG_JSON", "KEY_VAULT_URL", "MAINTENANCE_SCHEDULE", "REDIS_URL", "REDIS_ENTRA_AUTH", "ALLOW_IN_PROCESS_ROTATION_LOCK"]);
    assert.ok(broker.length >= 7, `found ${broker.join(", ")}`);
    for (const key of broker) assert.ok(known.has(key), `${key} is a broker setting`);
    // No settings Flex Consumption rejects.
    assert.doesNotMatch(res, /FUNCTIONS_WORKER_RUNTIME|FUNCTIONS_EXTENSION_VERSION|WEBSITE_NODE_DEFAULT_VERSION/);
  });
});
