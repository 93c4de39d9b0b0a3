import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DeclarativeKeyApiSchema, SilverflowKeyApiSchema, expandKeyApi } from "../../../shared/config/rotation-schema.js";
import { UpstreamPolicySchema } from "../../../shared/config/provider-base-schema.js";
import type { FetchLike } from "../../../shared/http/fetch-like.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { KeyLimitReachedError, PartnerKeyApi } from "../../../shared/rotation/key-api.js";
import { rejectsWith } from "../../support/assertions.js";
import { ManualClock } from "../../support/manual-clock.js";

interface Call {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}

/** A scripted partner: answers in order and records what was sent. */
function scripted(answers: (() => Response)[]): { fetch: FetchLike; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: FetchLike = async (input, init) => {
    const headers = new Headers(init?.headers);
    calls.push({
      method: init?.method ?? "GET",
      url: String(input),
      authorization: headers.get("authorization") ?? undefined,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : undefined,
    });
    const next = answers.shift();
    if (!next) throw new Error("no scripted answer left");
    return next();
  };
  return { fetch, calls };
}

const json = (status: number, body: unknown) => () => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const policy = UpstreamPolicySchema.parse({ maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 });
const current = { id: "apk-current", secret: "CANARY-current-secret" };

function api(fetch: FetchLike, spec = expandKeyApi(SilverflowKeyApiSchema.parse({ preset: "silverflow", baseUrl: "https://partner.test/v1/" }))) {
  const clock = new ManualClock();
  return new PartnerKeyApi("silverflow", spec, policy, { fetch, clock, sleeper: clock, random: () => 0.5, logger: new MemoryLogger() });
}

describe("PartnerKeyApi", () => {
  test("speaks the Silverflow key API with the current key as Basic credentials", async () => {
    const partner = scripted([
      json(200, { items: [{ key: "apk-current", name: "initial", permissions: ["apiKeys:All"] }, { key: "apk-2", name: null }] }),
      json(201, { key: "apk-new", secret: "CANARY-new", name: "token-broker:silverflow:r1" }),
      () => new Response(null, { status: 204 }),
      () => new Response(null, { status: 404 }),
    ]);
    const keys = api(partner.fetch);
    const listed = await keys.list(current);
    assert.deepEqual(listed.map((k) => [k.id, k.name]), [["apk-current", "initial"], ["apk-2", undefined]]);
    assert.deepEqual(await keys.create(current, { name: "token-broker:silverflow:r1", permissions: ["apiKeys:All"] }), { id: "apk-new", secret: "CANARY-new" });
    assert.equal(await keys.delete(current, "apk/odd id"), "deleted");
    assert.equal(await keys.delete(current, "apk-gone"), "absent");
    const basic = "Basic " + Buffer.from("apk-current:CANARY-current-secret").toString("base64");
    assert.deepEqual(
      partner.calls.map((c) => [c.method, c.url, c.authorization]),
      [
        ["GET", "https://partner.test/v1/api-keys?limit=100", basic],
        ["POST", "https://partner.test/v1/api-keys", basic],
        ["DELETE", "https://partner.test/v1/api-keys/apk%2Fodd%20id", basic],
        ["DELETE", "https://partner.test/v1/api-keys/apk-gone", basic],
      ],
    );
    assert.deepEqual(partner.calls[1]?.body, {
      description: "Created by token-broker key rotation.",
      name: "token-broker:silverflow:r1",
      permissions: ["apiKeys:All"],
    });
  });

  test("sends a create exactly once even when the partner fails, while reads are retried", async () => {
    const partner = scripted([json(503, {}), json(503, {}), json(200, { items: [] })]);
    const keys = api(partner.fetch);
    await assert.rejects(keys.create(current, { name: "x" }), { code: "upstream_unavailable" });
    assert.equal(partner.calls.length, 1);
    assert.deepEqual(await keys.list(current), []);
    assert.equal(partner.calls.length, 3, "the list was retried after its 503");
  });

  test("a 409 from create means the key limit is reached", async () => {
    const keys = api(scripted([json(409, { title: "API key limit reached" })]).fetch);
    await assert.rejects(keys.create(current, {}), KeyLimitReachedError);
  });

  test("a full key account is the conflict with reason key_limit_reached", async () => {
    const keys = api(scripted([json(409, { title: "API key limit reached" })]).fetch);
    await assert.rejects(keys.create(current, {}), { code: "conflict", reason: "key_limit_reached" });
  });

  test("refuses unusable answers without quoting them", async () => {
    const canary = "CANARY-in-body";
    const keys = api(
      scripted([
        () => new Response(`not json ${canary}`, { status: 201 }),
        json(201, { key: "apk-x", secret: "" }),
        json(200, { items: [{ name: canary }] }),
        json(200, { data: [] }),
      ]).fetch,
    );
    for (const attempt of [() => keys.create(current, {}), () => keys.create(current, {}), () => keys.list(current), () => keys.list(current)]) {
      await assert.rejects(attempt(), (error: Error & { code?: string }) => {
        assert.equal(error.code, "upstream_rejected");
        assert.ok(!error.message.includes(canary));
        return true;
      });
    }
  });

  test("verify: the expected status is valid, 401 is rejected, a 503 is an error", async () => {
    const keys = api(scripted([json(200, {}), json(401, {}), json(503, {}), json(503, {})]).fetch);
    assert.equal(await keys.verify({ id: "apk-new", secret: "s" }), "valid");
    assert.equal(await keys.verify({ id: "apk-new", secret: "s" }), "rejected");
    await assert.rejects(keys.verify({ id: "apk-new", secret: "s" }), { code: "upstream_unavailable" });
  });

  test("a declarative adapter reads nested lists and its own field names", async () => {
    const spec = DeclarativeKeyApiSchema.parse({
      baseUrl: "https://keys.test",
      create: { path: "/v2/credentials", body: { type: "api" } },
      list: { path: "/v2/credentials?limit=100", itemsField: "data.items" },
      delete: { path: "/v2/credentials/{id}" },
      verify: { path: "/v2/me", expectStatus: [200, 204] },
      fields: { id: "clientId", secret: "clientSecret", name: "label" },
      maxKeys: 5,
    });
    const partner = scripted([json(200, { data: { items: [{ clientId: "c1", label: "x" }] } }), json(201, { clientId: "c2", clientSecret: "s2" })]);
    const keys = api(partner.fetch, spec);
    assert.deepEqual((await keys.list(current)).map((k) => k.id), ["c1"]);
    assert.deepEqual(await keys.create(current, { label: "token-broker:p:r" }), { id: "c2", secret: "s2" });
    assert.equal(partner.calls[0]?.url, "https://keys.test/v2/credentials?limit=100");
    assert.deepEqual(partner.calls[1]?.body, { type: "api", label: "token-broker:p:r" });
    assert.throws(() => DeclarativeKeyApiSchema.parse({ ...spec, delete: { path: "/v2/credentials" } }));
  });
  test("follows continuation tokens page by page until a page carries none", async () => {
    const spec = expandKeyApi(SilverflowKeyApiSchema.parse({ preset: "silverflow", baseUrl: "https://partner.test/v1", pageSize: 2, maxKeys: 5 }));
    const partner = scripted([
      json(200, { items: [{ key: "apk-1" }, { key: "apk-2" }], offsetToken: "t/1" }),
      json(200, { items: [{ key: "apk-3" }, { key: "apk-4" }], offsetToken: "t2" }),
      json(200, { items: [{ key: "apk-5" }] }),
    ]);
    const listed = await api(partner.fetch, spec).list(current);
    assert.deepEqual(listed.map((k) => k.id), ["apk-1", "apk-2", "apk-3", "apk-4", "apk-5"]);
    assert.deepEqual(
      partner.calls.map((c) => c.url),
      [
        "https://partner.test/v1/api-keys?limit=2",
        "https://partner.test/v1/api-keys?limit=2&offsetToken=t%2F1",
        "https://partner.test/v1/api-keys?limit=2&offsetToken=t2",
      ],
    );
  });

  test("fails closed on a paged list it cannot trust: a repeated or malformed token, a bad later page, a key listed twice, too many pages", async () => {
    const spec = expandKeyApi(SilverflowKeyApiSchema.parse({ preset: "silverflow", baseUrl: "https://partner.test/v1", pageSize: 2, maxKeys: 2 }));
    const cases: { why: string; pages: (() => Response)[] }[] = [
      { why: "repeated token", pages: [json(200, { items: [{ key: "a" }], offsetToken: "t1" }), json(200, { items: [{ key: "b" }], offsetToken: "t1" })] },
      { why: "token not a string", pages: [json(200, { items: [{ key: "a" }], offsetToken: 2 })] },
      { why: "empty token", pages: [json(200, { items: [{ key: "a" }], offsetToken: "" })] },
      { why: "later page without items", pages: [json(200, { items: [{ key: "a" }], offsetToken: "t1" }), json(200, { data: [] })] },
      { why: "later page refused", pages: [json(200, { items: [{ key: "a" }], offsetToken: "t1" }), json(403, {})] },
      { why: "key on two pages", pages: [json(200, { items: [{ key: "a" }], offsetToken: "t1" }), json(200, { items: [{ key: "a" }] })] },
      {
        why: "more than maxKeys/pageSize + 2 pages",
        pages: [1, 2, 3, 4].map((n) => json(200, { items: [{ key: `k${n}` }], offsetToken: `t${n}` })),
      },
    ];
    for (const { why, pages } of cases) {
      const partner = scripted(pages);
      await assert.rejects(api(partner.fetch, spec).list(current), { code: "upstream_rejected" }, why);
      if (why.startsWith("more than")) assert.equal(partner.calls.length, 3, "stops at the page bound");
    }
  });
  test("refuses a key-API answer larger than maxResponseBytes without reading it to the end", async () => {
    let pulled = 0;
    let cancelled = false;
    const endless = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            pulled++;
            controller.enqueue(new TextEncoder().encode(pulled === 1 ? '{"items":[' : '{"key":"apk-x"},'.repeat(256)));
          },
          cancel() {
            cancelled = true;
          },
        }),
        { status: 200, headers: { "content-type": "application/json" } },
      );
    const partner = scripted([endless]);
    const small = UpstreamPolicySchema.parse({ maxAttempts: 1, maxResponseBytes: 16_384 });
    const clock = new ManualClock();
    const spec = expandKeyApi(SilverflowKeyApiSchema.parse({ preset: "silverflow", baseUrl: "https://partner.test/v1/" }));
    const keys = new PartnerKeyApi("silverflow", spec, small, { fetch: partner.fetch, clock, sleeper: clock, random: () => 0.5, logger: new MemoryLogger() });
    const error = await rejectsWith(keys.list(current), "upstream_rejected");
    assert.match(error.detail, /larger than 16384 bytes/);
    assert.ok(cancelled, "the stream was cancelled");
    assert.ok(pulled < 10, `pulled ${pulled} chunks of an endless answer`);
  });

  test("configured paths never walk into prototypes: an items path through __proto__ reads nothing", async () => {
    const spec = DeclarativeKeyApiSchema.parse({
      baseUrl: "https://keys.test",
      create: { path: "/v2/credentials" },
      list: { path: "/v2/credentials", itemsField: "items.__proto__" },
      delete: { path: "/v2/credentials/{id}" },
      verify: { path: "/v2/me" },
      fields: { id: "clientId", secret: "clientSecret", name: "label" },
      maxKeys: 5,
    });
    // Array.prototype is itself an empty array: read through the prototype, this list would silently
    // become "no keys" and hide c1 from rotation's sweep.
    const partner = scripted([json(200, { items: [{ clientId: "c1", label: "x" }] })]);
    await assert.rejects(api(partner.fetch, spec).list(current), { code: "upstream_rejected" });
  });
});
