import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CallerPolicy } from "../../../shared/callers/caller-policy.js";
import type { VerifiedCaller } from "../../../shared/callers/caller-verifier.js";
import { ConfigError } from "../../../shared/config/load.js";
import { CallerSchema, type CallerConfig } from "../../../shared/config/caller-schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";

function callers(raw: Record<string, unknown>): Record<string, CallerConfig> {
  return Object.fromEntries(Object.entries(raw).map(([name, config]) => [name, CallerSchema.parse(config)]));
}

const policy = new CallerPolicy(
  callers({
    orders: { issuer: "corp", providers: ["flowe", "kalibrate"] },
    billing: { issuer: "corp", id: "3f7c1d2e-billing-app", providers: ["ayyeka"] },
    idle: { issuer: "corp" },
    ops: { issuer: "corp", id: "ops-console", roles: ["operator"] },
    "partner-orders": { issuer: "partner-idp", id: "orders", providers: ["phixflow"] },
  }),
);

function caller(issuer: string, id: string): VerifiedCaller {
  return { issuer, id, expiresAt: Date.UTC(2030, 0, 1) };
}

function assertForbidden(fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => error instanceof BrokerError && error.code === "caller_forbidden" && error.status === 403);
}

describe("CallerPolicy", () => {
  test("identifies callers by (issuer key, id), the id defaulting to the caller's name", () => {
    assert.equal(policy.identify(caller("corp", "orders")), "orders");
    assert.equal(policy.identify(caller("corp", "3f7c1d2e-billing-app")), "billing");
    assert.equal(policy.identify(caller("corp", "billing")), undefined, "an explicit id replaces the name");
    assert.equal(policy.identify(caller("corp", "stranger")), undefined);
  });

  test("grants only the providers listed for the caller", () => {
    assert.equal(policy.authorizeProvider(caller("corp", "orders"), "flowe"), "orders");
    assert.equal(policy.authorizeProvider(caller("corp", "orders"), "kalibrate"), "orders");
    assert.equal(policy.authorizeProvider(caller("corp", "3f7c1d2e-billing-app"), "ayyeka"), "billing");
    assertForbidden(() => policy.authorizeProvider(caller("corp", "orders"), "ayyeka"));
    assertForbidden(() => policy.authorizeProvider(caller("corp", "3f7c1d2e-billing-app"), "flowe"));
  });

  test("denies by default: unknown callers and callers without grants get nothing", () => {
    assertForbidden(() => policy.authorizeProvider(caller("corp", "stranger"), "flowe"));
    assertForbidden(() => policy.authorizeProvider(caller("corp", "idle"), "flowe"));
    assertForbidden(() => policy.authorizeProvider(caller("unknown-issuer", "orders"), "flowe"));
    for (const id of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      assert.equal(policy.identify(caller("corp", id)), undefined);
      assertForbidden(() => policy.authorizeProvider(caller("corp", id), "flowe"));
    }
    // Built-in property names are not grants either.
    assertForbidden(() => policy.authorizeProvider(caller("corp", "orders"), "constructor"));
  });

  test("admits only callers with the operator role to admin routes", () => {
    assert.equal(policy.authorizeOperator(caller("corp", "ops-console")), "ops");
    assertForbidden(() => policy.authorizeOperator(caller("corp", "orders")));
    assertForbidden(() => policy.authorizeOperator(caller("corp", "stranger")));
    assertForbidden(() => policy.authorizeOperator(caller("partner-idp", "ops-console")));
  });

  test("the operator role does not grant providers", () => {
    assertForbidden(() => policy.authorizeProvider(caller("corp", "ops-console"), "flowe"));
  });

  test("the same id from a different issuer is a different caller", () => {
    assert.equal(policy.identify(caller("partner-idp", "orders")), "partner-orders");
    assert.equal(policy.authorizeProvider(caller("partner-idp", "orders"), "phixflow"), "partner-orders");
    assertForbidden(() => policy.authorizeProvider(caller("partner-idp", "orders"), "flowe"));
    assertForbidden(() => policy.authorizeProvider(caller("corp", "orders"), "phixflow"));
  });

  test("refuses a configuration in which two callers share an issuer and id", () => {
    assert.throws(
      () => new CallerPolicy(callers({ orders: { issuer: "corp" }, shadow: { issuer: "corp", id: "orders", roles: ["operator"] } })),
      ConfigError,
    );
  });

  test("a refusal names the caller but does not echo the requested provider back", () => {
    assert.throws(
      () => policy.authorizeProvider(caller("corp", "orders"), "ayyeka"),
      (error: unknown) => error instanceof BrokerError && error.detail.includes('"orders"') && !error.detail.includes("ayyeka"),
    );
  });
});
