import assert from "node:assert/strict";
import { once } from "node:events";
import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { startLocalHost, type LocalHost, type LocalHostOptions } from "../../../dev/host/local-host.js";

// Fixture modules are imported by the host only: importing one here first would make
// @azure/functions register its functions in "test mode" (i.e. nowhere).
const fixture = (name: string) => new URL(`../../fixtures/functions/${name}.js`, import.meta.url).href;
const YEARLY = { TICK_SCHEDULE: "0 0 0 1 1 *" };

async function start(modules: string[], extra: Partial<LocalHostOptions> = {}): Promise<{ host: LocalHost; lines: string[] }> {
  const lines: string[] = [];
  const host = await startLocalHost({ modules: modules.map(fixture), env: YEARLY, log: (l) => lines.push(l), ...extra });
  return { host, lines };
}

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(text));
    let data = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (data += chunk));
    socket.on("end", () => resolve(data));
    socket.on("error", reject);
  });
}

describe("local host over HTTP", () => {
  let host: LocalHost;
  let lines: string[];
  before(async () => {
    ({ host, lines } = await start(["echo", "http-response", "throws", "timer"]));
  });
  after(() => host.close());
  const url = (path: string) => host.url + path;

  test("lists every registered function", () => {
    assert.deepEqual(
      host.functions.map((f) => f.name).sort(),
      ["badHeader", "badStatus", "boom", "bytes", "echo", "made", "nothing", "plain", "tick"],
    );
    assert.match(host.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test("routes by template and hands the handler params, query, headers and body", async () => {
    const res = await fetch(url("/api/items/42/echo/bob?a=1&tag=x&tag=y"), {
      method: "POST",
      body: "hello body",
      headers: { "x-test": "t1" },
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.equal(res.headers.get("x-echo"), "yes");
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.method, "POST");
    assert.equal(body.url, url("/api/items/42/echo/bob?a=1&tag=x&tag=y"));
    assert.deepEqual(body.params, { id: "42", name: "bob" });
    assert.deepEqual(body.repeated, ["x", "y"]);
    assert.equal((body.query as Record<string, string>).a, "1");
    assert.equal(body.body, "hello body");
    assert.equal(body.header, "t1");
    assert.equal(body.functionName, "echo");
    assert.equal(body.triggerType, "httpTrigger");
    assert.match(String(body.invocationId), /^[0-9a-f-]{36}$/);
    assert.ok(lines.includes("[echo] information: echo called 42"));
  });

  test("matches case-insensitively, with an optional segment left out", async () => {
    const res = await fetch(url("/API/Items/7/ECHO"));
    assert.equal(res.status, 201);
    assert.deepEqual(((await res.json()) as { params: unknown }).params, { id: "7" });
  });

  test("answers 404 for unknown paths and paths outside the route prefix", async () => {
    for (const path of ["/api/nope", "/items/1/echo", "/", "/api"]) {
      const res = await fetch(url(path));
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as { code: string }).code, "route_not_found");
    }
  });

  test("answers 405 with Allow when the path matches but the method does not", async () => {
    const res = await fetch(url("/api/items/1/echo"), { method: "DELETE" });
    assert.equal(res.status, 405);
    assert.deepEqual(res.headers.get("allow")?.split(", ").sort(), ["GET", "POST", "PUT"]);
  });

  test("sends string bodies as text/plain and byte bodies untouched", async () => {
    const text = await fetch(url("/api/plain/text"));
    assert.equal(text.status, 200);
    assert.equal(text.headers.get("content-type"), "text/plain;charset=UTF-8");
    assert.equal(await text.text(), "hello");
    const bytes = await fetch(url("/api/bytes"));
    assert.equal(bytes.headers.get("content-type"), "application/octet-stream");
    assert.deepEqual([...new Uint8Array(await bytes.arrayBuffer())], [1, 2, 3]);
  });

  test("answers 204 when a handler returns nothing", async () => {
    const res = await fetch(url("/api/nothing"));
    assert.equal(res.status, 204);
  });

  test("writes HttpResponse instances: status, Headers, jsonBody and cookies", async () => {
    const res = await fetch(url("/api/made/thing"));
    assert.equal(res.status, 202);
    assert.equal(res.headers.get("x-kind"), "thing");
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.deepEqual(res.headers.getSetCookie(), ["session=abc; path=/; samesite=lax; httponly"]);
    assert.deepEqual(await res.json(), { kind: "thing" });
    const empty = await fetch(url("/api/made/empty"));
    assert.equal(empty.status, 204);
  });

  test("answers 500 with an empty body when a handler throws, logs it without its message, and keeps serving", async () => {
    const { CANARY } = await import("../../fixtures/functions/throws.js");
    for (const path of ["/api/boom", "/api/bad-status", "/api/bad-header"]) {
      const res = await fetch(url(path));
      assert.equal(res.status, 500, path);
      assert.equal(await res.text(), "");
    }
    const failure = lines.find((l) => l.startsWith("[boom] error:"));
    assert.ok(failure, "the failure is logged");
    assert.match(failure, /at .*throws\.js/);
    assert.ok(!lines.some((l) => l.includes(CANARY)), "the error message stays out of the log");
    assert.equal((await fetch(url("/api/items/1/echo"))).status, 201);
  });

  test("rejects a declared body over 1 MiB with 413 without reading it", async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpRequest(url("/api/items/1/echo"), { method: "POST", headers: { "content-length": String(1024 * 1024 + 1) } }, (res) => {
        res.resume();
        resolve(res.statusCode);
        req.destroy();
      });
      req.on("error", reject);
      req.write(Buffer.alloc(1024));
    });
    assert.equal(status, 413);
  });

  test("rejects a chunked body once it passes 1 MiB with 413", async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpRequest(url("/api/items/1/echo"), { method: "POST" }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on("error", reject);
      for (let i = 0; i < 16; i++) req.write(Buffer.alloc(64 * 1024));
      req.end(Buffer.alloc(1));
    });
    assert.equal(status, 413);
  });

  test("keeps connections alive between requests", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ res: IncomingMessage; reused: boolean }>((resolve, reject) => {
        const req = httpRequest(url("/api/plain/text"), { agent }, (res) => {
          res.resume();
          res.on("end", () => resolve({ res, reused: req.reusedSocket }));
        });
        req.on("error", reject);
        req.end();
      });
    try {
      const first = await get();
      const second = await get();
      assert.equal(first.res.headers.connection, "keep-alive");
      assert.equal(second.reused, true);
    } finally {
      agent.destroy();
    }
  });

  test("answers malformed requests with 400 and survives clients that hang up mid-body", async () => {
    assert.match(await rawRequest(host.port, "NOT HTTP AT ALL\r\n\r\n"), /^HTTP\/1\.1 400/);
    assert.match(await rawRequest(host.port, "GET /api/items/1/echo HTTP/1.1\r\nHost: bad host\r\nConnection: close\r\n\r\n"), /^HTTP\/1\.1 400/);
    const aborted = connect(host.port, "127.0.0.1", () => {
      aborted.write("POST /api/items/1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
      aborted.destroy();
    });
    await once(aborted, "close");
    const badPercent = await fetch(url("/api/items/%E0%A4%A/echo"));
    assert.equal(badPercent.status, 400);
    assert.equal((await fetch(url("/api/plain/text"))).status, 200);
  });

  test("runs a timer function on demand through invoke(), its schedule taken from %SETTING%", async () => {
    const { runs } = await import("../../fixtures/functions/timer.js");
    const before = runs.length;
    await host.invoke("tick");
    assert.equal(runs.length, before + 1);
    const run = runs[runs.length - 1];
    assert.equal(run?.functionName, "tick");
    assert.equal(run?.timer.isPastDue, false);
    assert.match(run?.timer.scheduleStatus.next ?? "", /^\d{4}-01-01T00:00:00\.000Z$/);
    await assert.rejects(host.invoke("nope"), /no function named "nope"/);
    await assert.rejects(host.invoke("echo"), /HTTP-triggered/);
  });

  test("POST /admin/functions/{name} runs a timer function and answers 202", async () => {
    const { timerRuns } = await import("../../fixtures/functions/timer.js");
    const ran = once(timerRuns, "run");
    const res = await fetch(url("/admin/functions/tick"), { method: "POST", body: JSON.stringify({ input: "" }) });
    assert.equal(res.status, 202);
    await ran;
    assert.equal((await fetch(url("/admin/functions/missing"), { method: "POST" })).status, 404);
    assert.equal((await fetch(url("/admin/functions/echo"), { method: "POST" })).status, 400);
    assert.equal((await fetch(url("/admin/functions/tick"), { method: "POST", body: "{not json" })).status, 400);
    const get = await fetch(url("/admin/functions/tick"));
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
  });
});

describe("local host start-up and lifecycle", () => {
  test("fails to start when a timer schedule names a missing app setting", async () => {
    await assert.rejects(start(["timer"], { env: {} }), /app setting "TICK_SCHEDULE" used in its schedule is not set/);
  });

  test("fails to start on an invalid schedule", async () => {
    await assert.rejects(start(["timer"], { env: { TICK_SCHEDULE: "0 */5 * * *" } }), /function "tick": invalid NCRONTAB expression "0 \*\/5 \* \* \*": expected 6 fields/);
  });

  test("fires a timer on its schedule", { timeout: 5000 }, async () => {
    const { host } = await start(["timer"], { env: { TICK_SCHEDULE: "* * * * * *" } });
    try {
      const { timerRuns } = await import("../../fixtures/functions/timer.js");
      const [timer] = (await once(timerRuns, "run")) as [{ isPastDue: boolean; scheduleStatus: { next: string } }];
      assert.equal(timer.isPastDue, false);
      assert.ok(Date.parse(timer.scheduleStatus.next) > Date.now() - 1000);
    } finally {
      await host.close();
    }
  });

  test("serves the same route at the root with an empty route prefix", async () => {
    const { host } = await start(["echo"], { routePrefix: "" });
    try {
      assert.equal((await fetch(host.url + "/items/1/echo")).status, 201);
      assert.equal((await fetch(host.url + "/api/items/1/echo")).status, 404);
    } finally {
      await host.close();
    }
  });

  test("gives each host in one process only the functions of its own modules", async () => {
    const a = await start(["echo"]);
    const b = await start(["echo", "throws"]);
    try {
      assert.equal((await fetch(a.host.url + "/api/items/1/echo")).status, 201);
      assert.equal((await fetch(b.host.url + "/api/items/1/echo")).status, 201);
      assert.equal((await fetch(a.host.url + "/api/boom")).status, 404);
      assert.equal((await fetch(b.host.url + "/api/boom")).status, 500);
    } finally {
      await a.host.close();
      await b.host.close();
    }
  });

  test("runs appStart, pre/postInvocation and appTerminate hooks registered by function modules", async () => {
    const { host } = await start(["hooks"]);
    const { hookEvents } = await import("../../fixtures/functions/hooks.js");
    let closed = false;
    try {
      const res = await fetch(host.url + "/api/hooked");
      assert.equal(await res.text(), "wrapped(inner)");
      assert.equal(res.headers.get("x-post-hook"), "1");
      await host.close();
      closed = true;
      assert.deepEqual(hookEvents, ["appStart", "pre:hooked", "post:hooked", "appTerminate"]);
    } finally {
      if (!closed) await host.close();
    }
  });

  test("stops serving after close", async () => {
    const { host } = await start(["echo"]);
    await host.close();
    await host.close();
    await assert.rejects(fetch(host.url + "/api/items/1/echo"));
  });
});
