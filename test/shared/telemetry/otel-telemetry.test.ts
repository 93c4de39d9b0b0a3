import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { SPANS } from "../../../shared/telemetry/instruments.js";
import { noTelemetry } from "../../../shared/telemetry/telemetry.js";
import { inMemoryTelemetry } from "../../support/in-memory-telemetry.js";

describe("OtelTelemetry", () => {
  it("nests spans started inside another, across awaits, and ends each when its promise settles", async () => {
    const t = inMemoryTelemetry();
    await t.telemetry.span(SPANS.tokenRequest, { kind: "server" }, async () => {
      await new Promise((resolve) => setImmediate(resolve));
      await t.telemetry.span(SPANS.partnerFetch, { attributes: { provider: "acme" } }, async () => {
        await new Promise((resolve) => setImmediate(resolve));
      });
    });
    const [child, root] = t.spans();
    assert.equal(root?.name, SPANS.tokenRequest);
    assert.equal(root?.kind, SpanKind.SERVER);
    assert.equal(child?.name, SPANS.partnerFetch);
    assert.equal(child?.parentSpanContext?.spanId, root?.spanContext().spanId);
    assert.equal(child?.attributes.provider, "acme");
  });

  it("makes a server span internal inside another trace (the host's invocation), so one invocation is one request", () => {
    const t = inMemoryTelemetry();
    t.telemetry.span(SPANS.rotationRun, {}, () => t.telemetry.span(SPANS.tokenRequest, { kind: "server" }, () => "body"));
    const request = t.spans().find((s) => s.name === SPANS.tokenRequest);
    assert.equal(request?.kind, SpanKind.INTERNAL);
  });

  it("marks a failed span with the error's code only, never its message", async () => {
    const t = inMemoryTelemetry();
    const failing = t.telemetry.span(SPANS.partnerFetch, {}, async () => {
      throw new BrokerError("upstream_unavailable", "partner said CANARY-detail");
    });
    await assert.rejects(failing);
    assert.throws(() =>
      t.telemetry.span(SPANS.partnerAttempt, {}, () => {
        throw new TypeError("CANARY-sync");
      }),
    );
    const [async, sync] = t.spans();
    assert.equal(async?.status.code, SpanStatusCode.ERROR);
    assert.equal(async?.attributes["error.type"], "upstream_unavailable");
    assert.equal(sync?.attributes["error.type"], "TypeError");
    assert.ok(!JSON.stringify(t.spans().map((s) => [s.attributes, s.status, s.events])).includes("CANARY"));
  });

  it("keeps only the attributes an instrument declares: nothing high-cardinality becomes a series", async () => {
    const t = inMemoryTelemetry();
    t.telemetry.add("tokenRequests", 1, { provider: "acme", outcome: "hit", fingerprint: "abc123", caller: "orders" });
    t.telemetry.add("tokenRequests", 2, { provider: "acme", outcome: "hit" });
    const points = await t.points("token_broker.token.requests");
    assert.deepEqual(points, [{ attributes: { provider: "acme", outcome: "hit" }, value: 3 }]);
  });

  it("reads gauges at collection time", async () => {
    const t = inMemoryTelemetry();
    let state = 0;
    t.telemetry.observe("circuitState", (emit) => emit(state, { provider: "acme" }));
    state = 2;
    assert.deepEqual(await t.points("token_broker.partner.circuit.state"), [{ attributes: { provider: "acme" }, value: 2 }]);
  });

  it("the no-op port runs the work and records nothing", () => {
    assert.equal(
      noTelemetry.span(SPANS.tokenRequest, {}, (span) => {
        span.set({ provider: "acme" });
        span.fail(new Error("x"));
        return "ran";
      }),
      "ran",
    );
  });
});
