import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { exportSPKI } from "jose";
import type { IssuerConfig } from "../../../shared/config/caller-schema.js";
import { ConfigError } from "../../../shared/config/load.js";
import { assertRejected, issuerConfig, logger, sign, signing, useCallerTokens, verifier } from "./caller-token-harness.js";

useCallerTokens();

describe("CallerVerifier: trusted issuers", () => {
  test("refuses a configuration in which two issuer keys share one iss", () => {
    assert.throws(() => verifier({ a: issuerConfig(), b: issuerConfig() }), ConfigError);
  });

  test("refuses HS* even when an issuer is misconfigured to allow it", async () => {
    const misconfigured = { ...issuerConfig(), algorithms: ["HS256", "RS256"] } as unknown as IssuerConfig;
    const v = verifier({ corp: misconfigured });
    const pem = new TextEncoder().encode(await exportSPKI(signing.publicKey));
    await assertRejected(v, `Bearer ${await sign({ alg: "HS256", key: pem })}`, "caller_unauthenticated", "algorithm not allowed");
    assert.equal((await v.verify(`Bearer ${await sign()}`)).id, "orders");
    assert.deepEqual(logger.events("caller_issuer_algorithms_refused"), [{ issuer: "corp", refused: ["HS256"] }]);
  });
});
