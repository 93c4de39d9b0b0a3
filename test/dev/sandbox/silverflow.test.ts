import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { before, describe, it } from "node:test";
import { SILVERFLOW } from "../../../dev/sandbox/demo-identities.js";
import { serveHandlers } from "../../../dev/sandbox/serve.js";
import { SilverflowSandbox, type SilverflowKeyRecord, type SilverflowSandboxOptions } from "../../../dev/sandbox/silverflow.js";
import { ensureDevTls, type DevTls } from "../../../dev/tls.js";

const INITIAL = { key: "apk-1wtRxni5IsPsSpBLWpwr", secret: `CANARY${randomBytes(13).toString("hex")}` };
const KEY_ID = /^apk-[A-Za-z0-9]{20}$/;
const SECRET = /^[A-Za-z0-9]{32}$/;

let tls: DevTls;
before(async () => {
  tls = await ensureDevTls();
});

interface Harness {
  sf: SilverflowSandbox;
  url: string;
  call(method: string, path: string, options?: { auth?: string; body?: unknown; signal?: AbortSignal }): Promise<Response>;
}

/** A sandbox of its own per test, so faults and keys never leak between tests. */
async function withSilverflow(options: SilverflowSandboxOptions, run: (h: Harness) => Promise<void>): Promise<void> {
  const sf = new SilverflowSandbox({
    initialKeys: [{ ...INITIAL, permissions: [...SILVERFLOW.initialPermissions], name: SILVERFLOW.initialKeyName }],
    ...options,
  });
  const served = await serveHandlers([sf.handler], { tls });
  const call: Harness["call"] = (method, path, o = {}) => {
    const headers: Record<string, string> = {};
    if (o.auth !== undefined) headers.Authorization = o.auth;
    if (o.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(`${served.url}/silverflow${path}`, {
      method,
      headers,
      ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  };
  try {
    await run({ sf, url: served.url, call });
  } finally {
    await served.close();
  }
}

const basic = (key: string, secret: string) => `Basic ${Buffer.from(`${key}:${secret}`).toString("base64")}`;
const ADMIN = basic(INITIAL.key, INITIAL.secret);

/** The create answer: the full record (the secret this once) but for the sandbox-only activeAt. */
type CreatedKey = Omit<SilverflowKeyRecord, "activeAt">;

async function createKey(h: Harness, body: unknown, auth = ADMIN): Promise<CreatedKey> {
  const response = await h.call("POST", "/api-keys", { auth, body });
  assert.equal(response.status, 201);
  return (await response.json()) as CreatedKey;
}

describe("Silverflow sandbox: authentication", () => {
  it("accepts the initial key as HTTP Basic key:secret on /charges", async () => {
    await withSilverflow({}, async (h) => {
      const response = await h.call("GET", "/charges", { auth: ADMIN });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { items: [] });
      assert.equal(h.sf.requests.charges, 1);
    });
  });

  it("answers 401 Authentication Required to no credentials, a wrong secret, an unknown key or a raw key, without echoing them", async () => {
    await withSilverflow({}, async (h) => {
      const wrong = `CANARY-wrong-${randomBytes(6).toString("hex")}`;
      for (const auth of [undefined, basic(INITIAL.key, wrong), basic("apk-unknown00000000000", INITIAL.secret), INITIAL.secret, `Bearer ${wrong}`]) {
        const response = await h.call("GET", "/charges", auth === undefined ? {} : { auth });
        assert.equal(response.status, 401);
        const text = await response.text();
        assert.equal((JSON.parse(text) as { title: string }).title, "Authentication Required");
        assert.ok(!text.includes("CANARY"));
      }
      assert.equal(h.sf.requests.unauthorized, 5);
    });
  });

  it("answers 403 naming the missing permission when the key lacks charges:List", async () => {
    await withSilverflow({}, async (h) => {
      const reporter = await createKey(h, { name: "reports", permissions: ["reports:All"] });
      const response = await h.call("GET", "/charges", { auth: basic(reporter.key, reporter.secret) });
      assert.equal(response.status, 403);
      assert.match(((await response.json()) as { detail: string }).detail, /charges:List/);
      // resource:All grants every action on that resource.
      const all = await createKey(h, { permissions: ["charges:All"] });
      assert.equal((await h.call("GET", "/charges", { auth: basic(all.key, all.secret) })).status, 200);
    });
  });

  it("only lets a key authenticate once the propagation delay has passed", async () => {
    let nowMs = Date.parse("2025-01-01T00:00:00Z");
    await withSilverflow({ propagationDelayMs: 5000, now: () => nowMs }, async (h) => {
      const created = await createKey(h, { permissions: ["charges:List"] });
      const auth = basic(created.key, created.secret);
      assert.equal((await h.call("GET", "/charges", { auth })).status, 401);
      nowMs += 4999;
      assert.equal((await h.call("GET", "/charges", { auth })).status, 401);
      nowMs += 1;
      assert.equal((await h.call("GET", "/charges", { auth })).status, 200);
      // The activation key was never subject to the delay.
      assert.equal((await h.call("GET", "/charges", { auth: ADMIN })).status, 200);
    });
  });

  it("enforces CIDR restrictions against the socket's address (loopback here)", async () => {
    await withSilverflow({}, async (h) => {
      const outside = await createKey(h, { permissions: ["charges:List"], ipRestrictions: ["185.184.111.39/32", "10.0.0.0/8"] });
      const inside = await createKey(h, { permissions: ["charges:List"], ipRestrictions: ["10.0.0.0/8", "127.0.0.0/8"] });
      const everywhere = await createKey(h, { permissions: ["charges:List"], ipRestrictions: ["0.0.0.0/0"] });
      assert.equal((await h.call("GET", "/charges", { auth: basic(outside.key, outside.secret) })).status, 401);
      assert.equal((await h.call("GET", "/charges", { auth: basic(inside.key, inside.secret) })).status, 200);
      assert.equal((await h.call("GET", "/charges", { auth: basic(everywhere.key, everywhere.secret) })).status, 200);
      assert.ok(await h.sf.authenticate(basic(inside.key, inside.secret), "::ffff:127.0.0.1"));
      assert.equal(await h.sf.authenticate(basic(inside.key, inside.secret), "::1"), undefined);
      const invalid = await h.call("POST", "/api-keys", { auth: ADMIN, body: { ipRestrictions: ["127.0.0.1"] } });
      assert.equal(invalid.status, 400);
    });
  });
});

describe("Silverflow sandbox: API key lifecycle", () => {
  it("pages the key list oldest first: 10 by default, limit 1-100, offsetToken continues, the last page has none", async () => {
    await withSilverflow({}, async (h) => {
      for (let i = 0; i < 24; i++) h.sf.createKey({ name: `k${i}` });
      const all = h.sf.keys().map((k) => k.key); // 25 with the initial key
      const page = async (query: string) => {
        const response = await h.call("GET", `/api-keys${query}`, { auth: ADMIN });
        assert.equal(response.status, 200);
        return (await response.json()) as { items: { key: string }[]; offsetToken?: string };
      };
      const first = await page("");
      assert.deepEqual(first.items.map((i) => i.key), all.slice(0, 10));
      assert.equal(typeof first.offsetToken, "string");
      // A key deleted between pages shifts nothing: the token points after a position.
      h.sf.deleteKey(all[3]!);
      const second = await page(`?offsetToken=${encodeURIComponent(first.offsetToken!)}`);
      assert.deepEqual(second.items.map((i) => i.key), all.slice(10, 20));
      const last = await page(`?limit=10&offsetToken=${encodeURIComponent(second.offsetToken!)}`);
      assert.deepEqual(last.items.map((i) => i.key), all.slice(20));
      assert.equal(last.offsetToken, undefined, "no following page");
      const exact = await page("?limit=24");
      assert.equal(exact.items.length, 24);
      assert.equal(exact.offsetToken, undefined, "a full last page carries no token");
      assert.equal((await page("?limit=100")).items.length, 24);
      for (const bad of ["?limit=0", "?limit=101", "?limit=x", "?offsetToken=bogus"]) {
        assert.equal((await h.call("GET", `/api-keys${bad}`, { auth: ADMIN })).status, 400, bad);
      }
    });
  });

  it("returns the secret only in the creation response; list and get never show one", async () => {
    await withSilverflow({}, async (h) => {
      const created = await createKey(h, {
        name: "token-broker:silverflow:r1",
        description: "rotation",
        permissions: ["charges:List"],
        ipRestrictions: ["127.0.0.0/8"],
      });
      assert.match(created.key, KEY_ID);
      assert.match(created.secret, SECRET);
      assert.equal(created.name, "token-broker:silverflow:r1");
      assert.deepEqual(created.permissions, ["charges:List"]);
      assert.deepEqual(created.ipRestrictions, ["127.0.0.0/8"]);
      assert.ok(Number.isFinite(Date.parse(created.createdAt)));

      const list = await h.call("GET", "/api-keys", { auth: ADMIN });
      assert.equal(list.status, 200);
      const listText = await list.text();
      assert.ok(!listText.includes(created.secret) && !listText.includes(INITIAL.secret));
      const items = (JSON.parse(listText) as { items: Record<string, unknown>[] }).items;
      assert.deepEqual(items.map((i) => i.key), [INITIAL.key, created.key]);
      assert.ok(items.every((i) => !("secret" in i)));

      const one = await h.call("GET", `/api-keys/${created.key}`, { auth: ADMIN });
      assert.equal(one.status, 200);
      const oneBody = (await one.json()) as Record<string, unknown>;
      assert.equal(oneBody.key, created.key);
      assert.equal(oneBody.secret, undefined);
      assert.equal(h.sf.keys().find((k) => k.key === created.key)?.secret, created.secret);
      assert.equal((await h.call("GET", "/charges", { auth: basic(created.key, created.secret) })).status, 200);
    });
  });

  it("requires apiKeys:All to manage keys", async () => {
    await withSilverflow({}, async (h) => {
      const reader = await createKey(h, { permissions: ["charges:List"] });
      const auth = basic(reader.key, reader.secret);
      for (const [method, path] of [["POST", "/api-keys"], ["GET", "/api-keys"], ["GET", `/api-keys/${INITIAL.key}`], ["DELETE", `/api-keys/${INITIAL.key}`]] as const) {
        assert.equal((await h.call(method, path, { auth, body: method === "POST" ? {} : undefined })).status, 403, `${method} ${path}`);
      }
      assert.equal(h.sf.keys().length, 2);
    });
  });

  it("updates name, description, permissions and IP restrictions with PATCH", async () => {
    await withSilverflow({}, async (h) => {
      const created = await createKey(h, { name: "a", permissions: ["charges:List"] });
      const auth = basic(created.key, created.secret);
      const patched = await h.call("PATCH", `/api-keys/${created.key}`, { auth: ADMIN, body: { name: "b", description: "d", permissions: ["reports:All"] } });
      assert.equal(patched.status, 200);
      const body = (await patched.json()) as Record<string, unknown>;
      assert.deepEqual([body.name, body.description, body.permissions, body.secret], ["b", "d", ["reports:All"], undefined]);
      assert.equal((await h.call("GET", "/charges", { auth })).status, 403);
      await h.call("PATCH", `/api-keys/${created.key}`, { auth: ADMIN, body: { permissions: ["charges:List"], ipRestrictions: ["10.0.0.0/8"] } });
      assert.equal((await h.call("GET", "/charges", { auth })).status, 401);
      assert.equal((await h.call("PATCH", "/api-keys/apk-00000000000000000000", { auth: ADMIN, body: { name: "x" } })).status, 404);
      assert.equal((await h.call("PATCH", `/api-keys/${created.key}`, { auth: ADMIN, body: { permissions: "all" } })).status, 400);
    });
  });

  it("deletes keys (204, then 404), after which they no longer authenticate; a key may delete itself", async () => {
    await withSilverflow({}, async (h) => {
      const created = await createKey(h, { permissions: ["charges:List"] });
      assert.equal((await h.call("DELETE", `/api-keys/${created.key}`, { auth: ADMIN })).status, 204);
      assert.equal((await h.call("GET", "/charges", { auth: basic(created.key, created.secret) })).status, 401);
      assert.equal((await h.call("DELETE", `/api-keys/${created.key}`, { auth: ADMIN })).status, 404);
      assert.equal((await h.call("GET", `/api-keys/${created.key}`, { auth: ADMIN })).status, 404);

      assert.equal((await h.call("DELETE", `/api-keys/${INITIAL.key}`, { auth: ADMIN })).status, 204);
      assert.equal((await h.call("GET", "/charges", { auth: ADMIN })).status, 401);
      assert.deepEqual(h.sf.keys(), []);
    });
  });

  it("allows 40 keys and answers 409 API key limit reached to the 41st; deleting one makes room", async () => {
    await withSilverflow({}, async (h) => {
      for (let i = 2; i <= 40; i++) await createKey(h, { name: `k${i}` });
      assert.equal(h.sf.keys().length, 40);
      const refused = await h.call("POST", "/api-keys", { auth: ADMIN, body: { name: "k41" } });
      assert.equal(refused.status, 409);
      assert.equal(((await refused.json()) as { title: string }).title, "API key limit reached");
      assert.equal(h.sf.keys().length, 40);
      const victim = h.sf.keys()[1]!.key;
      assert.equal((await h.call("DELETE", `/api-keys/${victim}`, { auth: ADMIN })).status, 204);
      await createKey(h, { name: "k41" });
      assert.equal(h.sf.keys().length, 40);
    });
  });

  it("honours a smaller maxKeys and refuses a body that is not JSON", async () => {
    await withSilverflow({ maxKeys: 2 }, async (h) => {
      await createKey(h, {});
      assert.equal((await h.call("POST", "/api-keys", { auth: ADMIN, body: {} })).status, 409);
      assert.throws(() => h.sf.createKey({}), /limit/);
      const notJson = await fetch(`${h.url}/silverflow/api-keys`, { method: "POST", headers: { Authorization: ADMIN }, body: "{nope" });
      assert.equal(notJson.status, 400);
    });
  });
});

describe("Silverflow sandbox: agent bearer tokens", () => {
  it("mints a 900 s bearer token from an API key that /charges accepts", async () => {
    let nowMs = Date.parse("2025-01-01T00:00:00Z");
    await withSilverflow({ now: () => nowMs }, async (h) => {
      const response = await h.call("POST", "/bearer-tokens", { auth: ADMIN, body: { permissions: ["charges:List"] } });
      assert.equal(response.status, 201);
      const body = (await response.json()) as { token: string; expiresAt: string; permissions: string[] };
      assert.equal(body.token.split(".").length, 3);
      assert.equal(Date.parse(body.expiresAt), nowMs + 900_000);
      assert.deepEqual(body.permissions, ["charges:List"]);
      const auth = `Bearer ${body.token}`;
      assert.equal((await h.call("GET", "/charges", { auth })).status, 200);
      assert.equal((await h.call("GET", "/api-keys", { auth })).status, 403, "the token carries only charges:List");
      nowMs += 900_000;
      assert.equal((await h.call("GET", "/charges", { auth })).status, 401, "expired");
    });
  });

  it("mints with the key's permissions by default and a custom ttlSec; refuses permissions the key lacks", async () => {
    const nowMs = Date.parse("2025-01-01T00:00:00Z");
    await withSilverflow({ now: () => nowMs }, async (h) => {
      const response = await h.call("POST", "/bearer-tokens", { auth: ADMIN, body: { ttlSec: 120 } });
      const body = (await response.json()) as { expiresAt: string; permissions: string[] };
      assert.deepEqual(body.permissions, [...SILVERFLOW.initialPermissions]);
      assert.equal(Date.parse(body.expiresAt), nowMs + 120_000);
      const excess = await h.call("POST", "/bearer-tokens", { auth: ADMIN, body: { permissions: ["reports:All"] } });
      assert.equal(excess.status, 403);
      assert.equal((await h.call("POST", "/bearer-tokens", { auth: ADMIN, body: { ttlSec: 5 } })).status, 400);
    });
  });

  it("requires bearerTokens:Create on an API key: a bearer token cannot mint another", async () => {
    await withSilverflow({}, async (h) => {
      const reader = await createKey(h, { permissions: ["charges:List"] });
      assert.equal((await h.call("POST", "/bearer-tokens", { auth: basic(reader.key, reader.secret) })).status, 403);
      const minted = (await (await h.call("POST", "/bearer-tokens", { auth: ADMIN })).json()) as { token: string };
      assert.equal((await h.call("POST", "/bearer-tokens", { auth: `Bearer ${minted.token}` })).status, 401);
      h.sf.revokeBearerTokens();
      assert.equal((await h.call("GET", "/charges", { auth: `Bearer ${minted.token}` })).status, 401);
    });
  });

  it("restricts a bearer token to the CIDR ranges asked for", async () => {
    await withSilverflow({}, async (h) => {
      const far = (await (await h.call("POST", "/bearer-tokens", { auth: ADMIN, body: { ipRestrictions: ["10.0.0.0/8"] } })).json()) as { token: string };
      assert.equal((await h.call("GET", "/charges", { auth: `Bearer ${far.token}` })).status, 401);
      const near = (await (await h.call("POST", "/bearer-tokens", { auth: ADMIN, body: { ipRestrictions: ["127.0.0.1/32"] } })).json()) as { token: string };
      assert.equal((await h.call("GET", "/charges", { auth: `Bearer ${near.token}` })).status, 200);
    });
  });
});

describe("Silverflow sandbox: faults", () => {
  it('"error" on create answers 500 and creates nothing', async () => {
    await withSilverflow({}, async (h) => {
      h.sf.faults.push({ op: "create", kind: "error" });
      assert.equal((await h.call("POST", "/api-keys", { auth: ADMIN, body: {} })).status, 500);
      assert.equal(h.sf.keys().length, 1);
      assert.equal(h.sf.faults.length, 0);
      await createKey(h, {});
      assert.equal(h.sf.keys().length, 2);
    });
  });

  it('"commit-then-error" on create answers 500 but the key exists (its secret is lost to the client)', async () => {
    await withSilverflow({}, async (h) => {
      h.sf.faults.push({ op: "create", kind: "commit-then-error" });
      const response = await h.call("POST", "/api-keys", { auth: ADMIN, body: { name: "token-broker:silverflow:r2" } });
      assert.equal(response.status, 500);
      assert.ok(!(await response.text()).includes("apk-"));
      assert.deepEqual(h.sf.keys().map((k) => k.name), [SILVERFLOW.initialKeyName, "token-broker:silverflow:r2"]);
    });
  });

  it('"commit-then-hang" on create never answers, yet the key exists', async () => {
    await withSilverflow({}, async (h) => {
      h.sf.faults.push({ op: "create", kind: "commit-then-hang" });
      await assert.rejects(h.call("POST", "/api-keys", { auth: ADMIN, body: { name: "hung" }, signal: AbortSignal.timeout(300) }));
      assert.ok(h.sf.keys().some((k) => k.name === "hung"));
      // With hangMs the connection is dropped after that long instead.
      h.sf.faults.push({ op: "create", kind: "commit-then-hang", hangMs: 20 });
      await assert.rejects(h.call("POST", "/api-keys", { auth: ADMIN, body: { name: "dropped" } }));
      assert.ok(h.sf.keys().some((k) => k.name === "dropped"));
    });
  });

  it('"rate-limit" answers 429 with Retry-After: 1 and does nothing', async () => {
    await withSilverflow({}, async (h) => {
      h.sf.faults.push({ op: "delete", kind: "rate-limit" });
      const response = await h.call("DELETE", `/api-keys/${INITIAL.key}`, { auth: ADMIN });
      assert.equal(response.status, 429);
      assert.equal(response.headers.get("retry-after"), "1");
      assert.equal(h.sf.keys().length, 1);
    });
  });

  it('"commit-then-error" on delete removes the key and still answers 500', async () => {
    await withSilverflow({}, async (h) => {
      const created = await createKey(h, {});
      h.sf.faults.push({ op: "delete", kind: "commit-then-error" });
      assert.equal((await h.call("DELETE", `/api-keys/${created.key}`, { auth: ADMIN })).status, 500);
      assert.deepEqual(h.sf.keys().map((k) => k.key), [INITIAL.key]);
    });
  });

  it("faults target their own operation only and are consumed once; auth faults hit any route", async () => {
    await withSilverflow({}, async (h) => {
      h.sf.faults.push({ op: "patch", kind: "error" }, { op: "list", kind: "error" }, { op: "bearer", kind: "rate-limit" });
      assert.equal((await h.call("GET", "/charges", { auth: ADMIN })).status, 200);
      assert.equal((await h.call("POST", "/bearer-tokens", { auth: ADMIN })).status, 429);
      assert.equal((await h.call("GET", "/api-keys", { auth: ADMIN })).status, 500);
      assert.equal((await h.call("GET", "/api-keys", { auth: ADMIN })).status, 200);
      assert.equal((await h.call("PATCH", `/api-keys/${INITIAL.key}`, { auth: ADMIN, body: { name: "x" } })).status, 500);
      assert.equal(h.sf.keys()[0]!.name, SILVERFLOW.initialKeyName);
      h.sf.faults.push({ op: "auth", kind: "error" });
      assert.equal((await h.call("GET", "/charges", { auth: ADMIN })).status, 500);
      assert.equal((await h.call("GET", "/charges", { auth: ADMIN })).status, 200);
    });
  });

  it("drops every connection while down, and takes faults and the down switch over HTTP from other processes", async () => {
    await withSilverflow({}, async (h) => {
      const control = (body: unknown) =>
        fetch(`${h.url}/silverflow/_sandbox/faults`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      assert.equal((await control({ op: "create", kind: "error" })).status, 200);
      assert.deepEqual(h.sf.faults, [{ op: "create", kind: "error" }]);
      assert.equal((await h.call("POST", "/api-keys", { auth: ADMIN, body: {} })).status, 500);

      assert.equal((await control({ down: true })).status, 200);
      assert.equal(h.sf.down, true);
      await assert.rejects(h.call("GET", "/charges", { auth: ADMIN }));
      assert.equal((await control({ down: false, faults: [{ op: "auth", kind: "rate-limit" }] })).status, 200);
      assert.equal((await h.call("GET", "/charges", { auth: ADMIN })).status, 429);
      assert.equal((await h.call("GET", "/charges", { auth: ADMIN })).status, 200);
      assert.equal((await control({ op: "explode", kind: "error" })).status, 400);
      assert.equal((await control({ faults: [{ op: "list", kind: "error" }], clear: true })).status, 200);
      assert.equal(h.sf.faults.length, 1);
    });
  });

  it("counts requests per route", async () => {
    await withSilverflow({}, async (h) => {
      await createKey(h, {});
      await h.call("GET", "/api-keys", { auth: ADMIN });
      await h.call("GET", `/api-keys/${INITIAL.key}`, { auth: ADMIN });
      await h.call("POST", "/bearer-tokens", { auth: ADMIN });
      await h.call("GET", "/charges");
      assert.deepEqual(h.sf.requests, { create: 1, list: 1, get: 1, patch: 0, delete: 0, bearer: 1, charges: 1, unauthorized: 1, forbidden: 0 });
      assert.equal((await h.call("GET", "/nothing-here", { auth: ADMIN })).status, 404);
      assert.equal((await h.call("PUT", "/charges", { auth: ADMIN })).status, 405);
    });
  });
});
