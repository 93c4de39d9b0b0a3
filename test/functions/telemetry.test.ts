import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startDemoEnvironment, type DemoEnvironment } from "../../dev/demo/environment.js";
import { spawnBrokerProcess, type BrokerProcess } from "../../dev/host/broker-process.js";
import { ensureDevTls } from "../../dev/tls.js";
import { IngestionServer, type Envelope } from "../fakes/ingestion-server.js";
import { KeyVaultServer } from "../fakes/key-vault-server.js";
import { ManagedIdentityServer } from "../fakes/managed-identity-server.js";
import { secretCanaries } from "../support/canaries.js";
import { installNetworkGuard, networkAttempts } from "../support/network-guard.js";

/**
 * End to end with the real Azure Monitor exporter: a broker process (local Functions host, real
 * function files) with APPLICATIONINSIGHTS_CONNECTION_STRING pointing at a loopback ingestion
 * endpoint, Key Vault and the managed identity as loopback fakes. The assertions are on what the
 * ingestion endpoint received, since the exporter reports success even when ingestion refuses it.
 * Both this process and the broker refuse every connection or DNS lookup beyond loopback.
 */
installNetworkGuard();
const GUARD = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), "..", "support", "network-guard-register.js")).href;

let workDir: string;
let env: DemoEnvironment;
let msi: ManagedIdentityServer;
let vault: KeyVaultServer;
let ingestion: IngestionServer;
let broker: BrokerProcess;
const instrumentationKey = randomUUID();
/** Everything that must never reach telemetry: partner secrets, issued credentials, caller JWTs. */
const canaries: string[] = [];

before(async () => {
  const tls = await ensureDevTls();
  workDir = mkdtempSync(join(tmpdir(), "broker-telemetry-"));
  env = await startDemoEnvironment({ tls, workDir, issuerDir: join(workDir, "issuer") });
  msi = await ManagedIdentityServer.start();
  vault = await KeyVaultServer.start({ tls, acceptToken: (token) => msi.isIssued(token) });
  ingestion = await IngestionServer.start({ tls, acceptToken: (token) => msi.isIssued(token) });
  for (const [name, value] of Object.entries(env.sandbox.secrets)) vault.seed(name, value);
  canaries.push(...secretCanaries(Object.values(env.sandbox.secrets)));
  broker = await spawnBrokerProcess({
    BROKER_CONFIG: env.configPath,
    KEY_VAULT_URL: vault.url,
    KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: "true",
    ALLOW_IN_PROCESS_ROTATION_LOCK: "true",
    REDIS_URL: "",
    ...msi.env(),
    APPLICATIONINSIGHTS_CONNECTION_STRING: ingestion.connectionString(instrumentationKey),
    TELEMETRY_INGESTION_ONLY: "true",
    TELEMETRY_METRIC_INTERVAL_SEC: "1",
    NODE_OPTIONS: `--import=${GUARD}`,
  });
});

after(async () => {
  await broker?.stop();
  await Promise.all([ingestion?.close(), vault?.close(), msi?.close(), env?.close()]);
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

async function token(provider: string, caller: string): Promise<Response> {
  const jwt = await env.issuer.mint(caller);
  canaries.push(jwt);
  const res = await fetch(`${broker.url}/api/token/${provider}`, { headers: { authorization: `Bearer ${jwt}` } });
  if (res.ok) {
    const body = (await res.clone().json()) as { access_token?: string; headers: Record<string, string> };
    if (body.access_token) canaries.push(body.access_token);
    for (const [name, value] of Object.entries(body.headers)) if (name !== "Partner" && name !== "User-Agent") canaries.push(value);
  }
  return res;
}

const ofType = (envelopes: Envelope[], type: string) => envelopes.filter((e) => e.data.baseType === type);
const metricNames = (envelopes: Envelope[]) =>
  ofType(envelopes, "MetricData").flatMap((e) => (e.data.baseData.metrics as { name: string }[]).map((m) => m.name));

describe("telemetry to Application Insights (real exporter, loopback ingestion)", () => {
  test("the network guard refuses and records a connection beyond loopback", async () => {
    await assert.rejects(fetch("https://settings.example.invalid/"));
    await assert.rejects(fetch("https://192.0.2.10/"));
    assert.deepEqual(
      networkAttempts.map((a) => a.target),
      ["settings.example.invalid:443", "192.0.2.10:443"],
    );
    networkAttempts.length = 0; // the last test requires none from here on
  });

  test("token requests arrive as requests, partner and Key Vault calls as dependencies, and the metrics", async () => {
    assert.equal((await token("ayyeka", "orders-service")).status, 200);
    assert.equal((await token("flowe", "orders-service")).status, 200);
    assert.equal((await token("ayyeka", "orders-service")).status, 200); // a hit
    assert.equal((await token("phixflow", "orders-service")).status, 403);

    await ingestion.waitFor((all) => ofType(all, "RequestData").length >= 4 && ofType(all, "RemoteDependencyData").length > 0);
    await ingestion.waitFor((all) => metricNames(all).includes("token_broker.token.requests"));

    const requests = ofType(ingestion.accepted, "RequestData").map((e) => e.data.baseData);
    const tokenRequests = requests.filter((r) => r.name === "token_broker.token.request");
    assert.ok(tokenRequests.length >= 4, `token requests: ${JSON.stringify(requests.map((r) => r.name))}`);
    const props = tokenRequests.map((r) => r.properties ?? {});
    assert.ok(props.some((p) => p.provider === "ayyeka" && p.outcome === "miss" && p.caller === "orders-service"));
    assert.ok(props.some((p) => p.provider === "ayyeka" && p.outcome === "hit"));
    assert.ok(props.some((p) => p.provider === "phixflow" && p.outcome === "denied" && p.code === "caller_forbidden"));
    const denied = tokenRequests.find((r) => r.properties?.code === "caller_forbidden");
    assert.equal(denied?.success, false);

    const dependencyEnvelopes = ofType(ingestion.accepted, "RemoteDependencyData");
    const dependencies = dependencyEnvelopes.map((e) => e.data.baseData);
    const listed = JSON.stringify(dependencies.map((d) => [d.type, d.target, d.name]));
    const vaultHost = new URL(vault.url).host;
    // undici's HTTP client span for the partner's token endpoint, nested in the attempt span.
    const partnerCall = dependencyEnvelopes.find((e) => e.data.baseData.type === "Http" && e.data.baseData.name === "POST /ayyeka/auth/token");
    assert.ok(partnerCall, `a partner HTTP call: ${listed}`);
    assert.equal(partnerCall.data.baseData.resultCode, "200");
    const attempt = dependencyEnvelopes.find((e) => e.data.baseData.id === partnerCall.tags?.["ai.operation.parentId"]);
    assert.equal(attempt?.data.baseData.name, "token_broker.partner.attempt");
    assert.equal(attempt?.data.baseData.properties?.attempt, "1");
    assert.equal(attempt?.data.baseData.properties?.provider, "ayyeka");
    // The Azure SDK's own tracing: Key Vault reads (HTTP and the SDK operation) and the identity.
    assert.ok(dependencies.some((d) => d.type === "Http" && String(d.target).includes(vaultHost)), `a Key Vault call: ${listed}`);
    assert.ok(dependencies.some((d) => d.name === "SecretClient.getSecret"), listed);
    // The request span is the root of its trace: the partner call belongs to the same operation.
    const miss = ofType(ingestion.accepted, "RequestData").find(
      (e) => e.data.baseData.properties?.provider === "ayyeka" && e.data.baseData.properties?.outcome === "miss",
    );
    assert.equal(partnerCall.tags?.["ai.operation.id"], miss?.tags?.["ai.operation.id"]);

    const names = metricNames(ingestion.accepted);
    for (const name of ["token_broker.token.requests", "token_broker.partner.fetch.duration", "token_broker.credential.remaining_lifetime", "token_broker.caller.verifications"]) {
      assert.ok(names.includes(name), `metric ${name} in ${JSON.stringify([...new Set(names)])}`);
    }
    const requestMetric = ofType(ingestion.accepted, "MetricData")
      .map((e) => e.data.baseData)
      .find((d) => (d.metrics as { name: string }[])[0]?.name === "token_broker.token.requests" && d.properties?.outcome === "denied");
    assert.equal(requestMetric?.properties?.code, "caller_forbidden");
    assert.equal(requestMetric?.properties?.provider, "phixflow");
  });

  test("ingestion is authenticated with the managed identity for https://monitor.azure.com", () => {
    assert.ok(ingestion.requests.length > 0);
    for (const request of ingestion.requests) assert.equal(request.authorized, true, "every POST carries an identity token");
    assert.ok(msi.requests.some((r) => r.resource === "https://monitor.azure.com" && r.headerOk));
    // Only the loopback endpoint: the exporter would gzip toward Azure Monitor domains alone.
    assert.ok(ingestion.requests.every((r) => !r.gzip));
    assert.ok(ingestion.accepted.every((e) => e.iKey === instrumentationKey));
  });

  test("no secret, issued credential or caller JWT appears in any exported payload", () => {
    assert.ok(canaries.length > 5);
    for (const request of ingestion.requests) {
      for (const canary of canaries) assert.ok(!request.body.includes(canary), "a canary value reached telemetry");
    }
  });

  test("neither the broker nor this process tried to reach beyond loopback", async () => {
    await broker.stop();
    const refused = broker.lines.filter((line) => line.includes("network_guard_refused"));
    assert.deepEqual(refused, []);
    assert.deepEqual(networkAttempts, []);
  });
});
