import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PhixflowSandbox } from "../../../dev/sandbox/phixflow.js";
import { serveHandlers, type ServedHandlers } from "../../../dev/sandbox/serve.js";
import { ensureDevTls } from "../../../dev/tls.js";

const FIRST = "CANARY-pfx-first-0123456789";
let server: ServedHandlers;
let phixflow: PhixflowSandbox;

before(async () => {
  const tls = await ensureDevTls();
  phixflow = new PhixflowSandbox({ initialKeys: [FIRST] });
  server = await serveHandlers([phixflow.handler], { tls });
});

after(() => server.close());

const ping = (authorization?: string) =>
  fetch(`${server.url}/phixflow/api/1/ping`, { headers: authorization === undefined ? {} : { Authorization: authorization } });
const run = (authorization: string) =>
  fetch(`${server.url}/phixflow/api/1/action/run`, { method: "POST", headers: { Authorization: authorization, "Content-Type": "application/json" }, body: "{}" });

describe("PhixFlow sandbox", () => {
  it("accepts a generated key passed raw in Authorization on ping and action/run", async () => {
    assert.equal((await ping(FIRST)).status, 200);
    const response = await run(FIRST);
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { status: string }).status, "ok");
  });

  it("answers 401 to a missing key, an unknown key, or the key behind a scheme, without echoing it", async () => {
    for (const authorization of [undefined, "", "CANARY-unknown", `Bearer ${FIRST}`, `ApiKey ${FIRST}`, `${FIRST} `.repeat(2)]) {
      const response = await ping(authorization);
      assert.equal(response.status, 401, JSON.stringify(authorization));
      assert.ok(!(await response.text()).includes("CANARY"));
    }
    assert.equal((await run("CANARY-unknown")).status, 401);
  });

  it("keeps the old key valid while a new one is in use, until the operator revokes it", async () => {
    const next = phixflow.addKey();
    assert.match(next, /^pfx_[A-Za-z0-9]{40}$/);
    assert.notEqual(next, FIRST);
    assert.equal((await ping(next)).status, 200);
    assert.equal((await ping(FIRST)).status, 200);
    assert.equal(phixflow.revokeKey(next), true);
    assert.equal((await ping(next)).status, 401);
    assert.deepEqual(phixflow.keys(), [FIRST]);
  });

  it("generates and revokes keys over HTTP for the operator-rotation demo", async () => {
    const created = await fetch(`${server.url}/phixflow/_sandbox/keys`, { method: "POST" });
    assert.equal(created.status, 201);
    const { key } = (await created.json()) as { key: string };
    assert.equal((await ping(key)).status, 200);
    const revoke = (body: string) => fetch(`${server.url}/phixflow/_sandbox/keys`, { method: "DELETE", body });
    assert.equal((await revoke(JSON.stringify({ key }))).status, 200);
    assert.equal((await revoke(JSON.stringify({ key }))).status, 404);
    assert.equal((await revoke("nope")).status, 400);
    assert.equal((await ping(key)).status, 401);
  });

  it("counts requests and plays queued faults before checking the key", async () => {
    const before = { ...phixflow.requests };
    phixflow.faults.push({ status: 502 }, { destroy: true });
    assert.equal((await ping(FIRST)).status, 502);
    await assert.rejects(ping(FIRST));
    assert.equal((await ping(FIRST)).status, 200);
    assert.equal(phixflow.requests.ping, before.ping + 3);
  });

  it("generates a key of its own when started without one", () => {
    const fresh = new PhixflowSandbox();
    assert.equal(fresh.keys().length, 1);
    assert.match(fresh.keys()[0]!, /^pfx_[A-Za-z0-9]{40}$/);
  });
});
