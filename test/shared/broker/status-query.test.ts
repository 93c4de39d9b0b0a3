import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseStatusQuery } from "../../../shared/broker/status-query.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";

describe("parseStatusQuery", () => {
  it("accepts comma-separated providers and states and a view", () => {
    assert.deepEqual(parseStatusQuery({ provider: "flowe,ayyeka-2", state: "needs_attention,circuit_open", view: "full" }), {
      providers: ["flowe", "ayyeka-2"],
      states: ["needs_attention", "circuit_open"],
      view: "full",
    });
    assert.deepEqual(parseStatusQuery({ provider: null, state: null, view: null }), {});
    assert.deepEqual(parseStatusQuery({}), {});
  });

  it("refuses bad values with a 400 that names the parameter and never repeats the value", () => {
    const canary = "<script>CANARY";
    const bad: [string, Record<string, string>][] = [
      ["provider", { provider: canary }],
      ["provider", { provider: "" }],
      ["provider", { provider: "flowe,,ayyeka" }],
      ["provider", { provider: "flowe,flowe" }],
      ["provider", { provider: "Flowe" }],
      ["provider", { provider: Array.from({ length: 101 }, (_, i) => `p${i}`).join(",") }],
      ["provider", { provider: "a".repeat(100_000) }],
      ["state", { state: canary }],
      ["state", { state: "expired,EXPIRED" }],
      ["state", { state: "" }],
      ["state", { state: "valid,valid" }],
      ["view", { view: canary }],
      ["view", { view: "" }],
    ];
    for (const [parameter, raw] of bad) {
      assert.throws(
        () => parseStatusQuery(raw),
        (e: unknown) =>
          e instanceof BrokerError &&
          e.code === "bad_request" &&
          e.detail.includes(`Query parameter ${parameter}`) &&
          !e.detail.includes("CANARY") &&
          !e.detail.includes("EXPIRED"),
        JSON.stringify(raw).slice(0, 80),
      );
    }
  });
});
