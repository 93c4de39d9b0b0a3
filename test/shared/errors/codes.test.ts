import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { RedisCommandTimeoutError, RedisUnavailableError } from "../../../shared/cache/redis-commands.js";
import { JwksUnavailableError } from "../../../shared/callers/issuer-keys.js";
import { ConfigError } from "../../../shared/config/load.js";
import { BrokerError, isBrokerError, toBrokerError } from "../../../shared/errors/broker-error.js";
import { ERROR_STATUS, ERROR_TABLE, ERROR_TITLES, isInternalCode } from "../../../shared/errors/codes.js";
import { problemResult } from "../../../shared/http/http-result.js";
import { errorFields } from "../../../shared/log/logger.js";
import { KeyVaultRequestError } from "../../../shared/secrets/key-vault-requests.js";
import { errorType } from "../../../shared/telemetry/telemetry.js";
import { UpstreamFailure } from "../../../shared/upstream/upstream-failure.js";

describe("the error table", () => {
  test("answers every public code with the status and title it always had", () => {
    assert.deepEqual(ERROR_STATUS, {
      bad_request: 400,
      caller_unauthenticated: 401,
      caller_forbidden: 403,
      provider_not_found: 404,
      route_not_found: 404,
      method_not_allowed: 405,
      conflict: 409,
      payload_too_large: 413,
      rate_limited: 429,
      upstream_rejected: 502,
      upstream_unavailable: 503,
      secret_unavailable: 503,
      broker_unavailable: 503,
      internal: 500,
    });
    assert.equal(ERROR_TITLES.upstream_rejected, "Partner rejected the credentials");
    assert.equal(Object.keys(ERROR_TITLES).length, Object.keys(ERROR_STATUS).length);
  });

  test("lists internal-only codes apart: never an answer, never in the fleet's or a problem's vocabulary", () => {
    for (const [code, entry] of Object.entries(ERROR_TABLE)) {
      assert.match(code, /^[a-z][a-z_]*$/);
      assert.equal(isInternalCode(code), entry.status === "never", code);
      assert.equal(code in ERROR_STATUS, entry.status !== "never", code);
    }
    assert.equal(isInternalCode("toString"), false);
    assert.equal(isInternalCode("conflict"), false);
  });
});

const internal = (): BrokerError<never>[] =>
  [
    new UpstreamFailure("transient", "HTTP 503", { status: 503, cause: new Error("secret-canary") }),
    new JwksUnavailableError("no usable signing keys for this issuer"),
    new ConfigError("Invalid app settings:\n  - X: bad", ["X: bad"]),
    new RedisCommandTimeoutError(),
    new RedisUnavailableError(),
    new KeyVaultRequestError("RestError", "Forbidden", 403),
  ] as BrokerError<never>[];

describe("errors raised with an internal-only code", () => {
  test("are BrokerErrors with a code of the table, keep their class name, message and cause", () => {
    for (const error of internal()) {
      assert.ok(error instanceof BrokerError, error.name);
      assert.ok(isInternalCode(error.code), `${error.name}: ${error.code}`);
      assert.notEqual(error.name, "BrokerError");
    }
    const [upstream, , config] = internal();
    assert.equal(upstream!.message, "HTTP 503");
    assert.equal((upstream!.cause as Error).message, "secret-canary");
    assert.equal(config!.message, "Invalid app settings:\n  - X: bad");
  });

  test("are answered like any unexpected error should one escape: internal, 500, generic detail", () => {
    for (const error of internal()) {
      assert.equal(isBrokerError(error), false, error.name);
      const answer = toBrokerError(error);
      assert.equal(answer.code, "internal");
      assert.equal(answer.cause, error);
      const problem = problemResult(error);
      assert.equal(problem.status, 500);
      assert.deepEqual(JSON.parse(problem.body), {
        type: "urn:token-broker:error:internal",
        title: "Internal error",
        status: 500,
        code: "internal",
        detail: "Unexpected error; see the broker log.",
      });
      assert.equal(error.status, 500);
    }
  });

  test("are logged with class and code (and the SDK's code), and typed in telemetry by class", () => {
    assert.deepEqual(errorFields(new KeyVaultRequestError("RestError", "Forbidden", 403)).error_chain, [
      "KeyVaultRequestError:key_vault_request_failed:Forbidden:403",
    ]);
    assert.equal(errorType(new UpstreamFailure("rejected", "HTTP 401")), "UpstreamFailure");
    assert.equal(errorType(new RedisUnavailableError()), "RedisUnavailableError");
    assert.equal(errorType(new BrokerError("conflict", "x")), "conflict");
  });
});

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

test("every error class in shared/ is a BrokerError (one base, one table of codes)", () => {
  const outside: string[] = [];
  for (const file of sources("shared")) {
    for (const match of readFileSync(file, "utf8").matchAll(/class (\w+) extends (\w+)/g)) {
      const [, name, base] = match;
      if (["Error", "TypeError", "RangeError"].includes(base!)) outside.push(`${file}: ${name}`);
    }
  }
  assert.deepEqual(outside, []);
});
