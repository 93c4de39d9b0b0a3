import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { startDemoBroker, type DemoBroker } from "../support/demo-broker.js";
import { jsonBody } from "../support/json-body.js";

/** The `token-broker` command line (the package's bin) against the demo broker. */
const run = promisify(execFile);
const BIN = join(resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", ".."), "client", "dist", "cli.js");

let demo: DemoBroker;
let operatorJwt: string;

before(async () => {
  demo = await startDemoBroker();
  operatorJwt = await demo.env.issuer.mint("ops-console");
});

after(async () => {
  await demo?.close();
});

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? "", TOKEN_BROKER_URL: demo.broker.url, TOKEN_BROKER_JWT: operatorJwt, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("token-broker command line", () => {
  test("status prints a table: one row per provider with state, expiry, error, circuit, key age, rotation phase and next due", async () => {
    // Warm one provider so its row has a state and expiry.
    assert.equal((await cli(["refresh", "ayyeka"])).code, 0);
    const { code, stdout } = await cli(["status"]);
    assert.equal(code, 0);
    const [header, ...rows] = stdout.trimEnd().split("\n");
    assert.match(header!, /^PROVIDER\s+STATE\s+EXPIRES\s+LAST ERROR\s+CIRCUIT\s+KEY AGE\s+ROTATION\s+NEXT DUE$/);
    const names = rows.map((r) => r.split(/\s+/)[0]);
    assert.deepEqual(names.sort(), Object.keys(demo.env.config.providers).sort());
    const ayyeka = rows.find((r) => r.startsWith("ayyeka "))!;
    assert.match(ayyeka, /^ayyeka\s+valid\s+\d{4}-\d\d-\d\dT\S+Z\s+-\s+closed\s+-\s+-\s+-$/);
    const silverflow = rows.find((r) => r.startsWith("silverflow "))!;
    assert.match(silverflow, /\s\d+[smhd]\s+\S+\s+\d{4}-\d\d-\d\dT\S+Z$/, "key age, rotation phase and next due of a rotating provider");
  });

  test("status --json prints the broker's document", async () => {
    const { code, stdout } = await cli(["status", "--json"]);
    assert.equal(code, 0);
    const status = JSON.parse(stdout);
    assert.ok(Array.isArray(status.providers) && status.providers.length === Object.keys(demo.env.config.providers).length);
  });

  test("refresh, rotate --dry-run and token print metadata, never a credential", async () => {
    const refreshed = await cli(["refresh", "kalibrate"]);
    assert.equal(refreshed.code, 0, refreshed.stderr);
    assert.match(refreshed.stdout, /^provider\s+kalibrate$/m);
    assert.match(refreshed.stdout, /^fingerprint\s+sha256:[0-9a-f]{12}$/m);

    const plan = await cli(["rotate", "silverflow", "--dry-run", "--json"]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.equal(JSON.parse(plan.stdout).provider, "silverflow");

    const orders = await demo.env.issuer.mint("orders-service");
    const checked = await cli(["token", "flowe"], { TOKEN_BROKER_JWT: orders });
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /^scope\s+api:\/\/p1-test\/\.default$/m);
    assert.match(checked.stdout, /^headers\s+\["AuthKey","Partner","Authorization"\]$/m);
    const served = await jsonBody(await demo.call("/api/token/flowe", { caller: "orders-service" }));
    for (const value of [served.access_token, ...Object.values<string>(served.headers)]) {
      if (value !== "acme-payments") assert.ok(!checked.stdout.includes(value), "a credential value was printed");
    }
  });

  test("failures exit 1 with the problem code; usage errors exit 2", async () => {
    const missing = await cli(["refresh", "no-such-provider"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: provider_not_found \(404\)/);
    const forbidden = await cli(["status"], { TOKEN_BROKER_JWT: await demo.env.issuer.mint("orders-service") });
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /^error: caller_forbidden \(403\)/);
    const unauthenticated = await cli(["status"], { TOKEN_BROKER_JWT: "not-a-jwt" });
    assert.equal(unauthenticated.code, 1);
    assert.match(unauthenticated.stderr, /^error: caller_unauthenticated \(401\)/);
    const unreachable = await cli(["status", "--url", "http://127.0.0.1:9"]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^error: network_error/);
    assert.equal((await cli(["refresh"])).code, 2);
    assert.equal((await cli(["frobnicate", "x"])).code, 2);
    assert.equal((await cli(["status", "--bogus"])).code, 2);
  });

  test("status passes --provider and --state on as query parameters", async () => {
    // In process, to see the request the command makes.
    const { runCli } = (await import(pathToFileURL(BIN).href)) as { runCli: (argv: string[], io: object) => Promise<number> };
    const urls: string[] = [];
    const out: string[] = [];
    const code = await runCli(["status", "--provider", "flowe", "--state", "valid", "--json"], {
      env: { TOKEN_BROKER_URL: demo.broker.url, TOKEN_BROKER_JWT: operatorJwt },
      stdout: (t: string) => out.push(t),
      stderr: (t: string) => out.push(t),
      fetch: (input: string, init: RequestInit) => {
        urls.push(String(input));
        return fetch(input, init);
      },
    });
    assert.equal(code, 0, out.join(""));
    const url = new URL(urls[0]!);
    assert.equal(url.pathname, "/api/ops/status");
    assert.equal(url.searchParams.get("provider"), "flowe");
    assert.equal(url.searchParams.get("state"), "valid");
  });
});
