import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { describe, test } from "node:test";
import { startLocalHost } from "../../../dev/host/local-host.js";

// Imported by the host only (see local-host.test.ts).
const fixture = (name: string) => new URL(`../../fixtures/functions/${name}.js`, import.meta.url).href;

async function start(modules: string[], drainGraceMs?: number) {
  const lines: string[] = [];
  const host = await startLocalHost({ modules: modules.map(fixture), log: (l) => lines.push(l), enableTimers: false, drainGraceMs });
  return { host, lines };
}

/** Resolves once the host has the request (the handler is running), with the eventual answer. */
function inFlight(url: string): Promise<{ answer: Promise<{ status: number; body: string }> }> {
  return new Promise((resolveStarted) => {
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(url, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      });
      req.on("error", reject);
      // Flushed headers: give the host a moment to route it to the handler.
      req.end(() => setTimeout(() => resolveStarted({ answer }), 100));
    });
    answer.catch(() => undefined);
  });
}

describe("local host shutdown", () => {
  test("drains a request in flight on close instead of resetting it, and refuses new connections", async () => {
    const { host } = await start(["slow"]);
    const { answer } = await inFlight(`${host.url}/api/slow?ms=400`);
    const closed = host.close();
    assert.deepEqual(await answer, { status: 200, body: "done after 400 ms" });
    await closed;
    await assert.rejects(fetch(`${host.url}/api/slow`), "no new connection after close");
  });

  test("cuts a request still running once the drain grace has passed, and says so", async () => {
    const { host, lines } = await start(["slow"], 100);
    const { answer } = await inFlight(`${host.url}/api/slow?ms=20000`);
    await host.close();
    await assert.rejects(answer);
    assert.ok(lines.some((l) => /1 request\(s\) still running after the 100 ms drain grace were cut/.test(l)));
  });
});

describe("local host refusals are problem+json", () => {
  async function expectProblem(res: Response, status: number, code: string): Promise<void> {
    assert.equal(res.status, status);
    assert.equal(res.headers.get("content-type"), "application/problem+json; charset=utf-8");
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.status, status);
    assert.equal(body.code, code);
    assert.equal(typeof body.title, "string");
    assert.equal(typeof body.detail, "string");
  }

  test("404 unknown route, 405 wrong method (with Allow), 400 bad path, 413 body too large, 400 malformed HTTP", async () => {
    const { host } = await start(["echo"]);
    try {
      await expectProblem(await fetch(`${host.url}/api/nope/<script>`), 404, "route_not_found");
      const wrong = await fetch(`${host.url}/api/items/1/echo`, { method: "DELETE" });
      assert.deepEqual(wrong.headers.get("allow")?.split(", ").sort(), ["GET", "POST", "PUT"]);
      await expectProblem(wrong, 405, "method_not_allowed");
      await expectProblem(await fetch(`${host.url}/api/items/%E0%A4%A/echo`), 400, "bad_request");
      await expectProblem(await fetch(`${host.url}/api/items/1/echo`, { method: "POST", body: "x".repeat(1024 * 1024 + 1) }), 413, "payload_too_large");
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(host.port, "127.0.0.1", () => socket.write("NOT HTTP AT ALL\r\n\r\n"));
        let data = "";
        socket.setEncoding("utf8");
        socket.on("data", (c: string) => (data += c));
        socket.on("end", () => resolve(data));
        socket.on("error", reject);
      });
      assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(raw, /content-type: application\/problem\+json/);
      assert.match(raw, /"code":"bad_request"/);
    } finally {
      await host.close();
    }
  });
});
