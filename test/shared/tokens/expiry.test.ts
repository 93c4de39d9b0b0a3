import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveExpiry } from "../../../shared/tokens/expiry.js";
import { UpstreamFailure } from "../../../shared/upstream/upstream-failure.js";

const now = Date.UTC(2026, 10, 23, 12, 0, 0);
const policy = { defaultTtlSec: 600, maxTtlSec: 7200 };

/** An unsigned JWT: resolveExpiry only decodes, it never verifies. */
function jwt(payload: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(payload)}.c2lnbmF0dXJl`;
}

describe("resolveExpiry", () => {
  it("uses expires_in given as a number", () => {
    assert.deepEqual(resolveExpiry({ expiresIn: 3599, now, policy }), { expiresAt: now + 3_599_000, source: "expires_in", capped: false });
  });

  it("uses expires_in given as a numeric string", () => {
    assert.equal(resolveExpiry({ expiresIn: "3600", now, policy }).expiresAt, now + 3_600_000);
    assert.equal(resolveExpiry({ expiresIn: " 90.5 ", now, policy }).expiresAt, now + 90_500);
  });

  it("prefers expires_in over expires_on and the JWT exp", () => {
    const r = resolveExpiry({ expiresIn: 60, expiresOn: now / 1000 + 120, accessToken: jwt({ exp: now / 1000 + 180 }), now, policy });
    assert.equal(r.source, "expires_in");
    assert.equal(r.expiresAt, now + 60_000);
  });

  it("falls through expires_in values that are not numbers", () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, "abc", "", "1e3", null, {}, true]) {
      assert.equal(resolveExpiry({ expiresIn: bad, now, policy }).source, "default", `expires_in ${String(bad)}`);
    }
  });

  it("refuses a credential whose expires_in says it is already expired", () => {
    for (const expired of [0, -5, "0", "-10", " -1.5 "]) {
      assert.throws(
        () => resolveExpiry({ expiresIn: expired, now, policy }),
        (e: unknown) => e instanceof UpstreamFailure && e.kind === "invalid" && /already expired \(expires_in <= 0\)/.test(e.summary),
        `expires_in ${String(expired)}`,
      );
    }
  });

  it("serves a very short lifetime for what it is", () => {
    assert.deepEqual(resolveExpiry({ expiresIn: 2, now, policy }), { expiresAt: now + 2000, source: "expires_in", capped: false });
  });

  it("reads expires_on as epoch seconds, number or string", () => {
    assert.deepEqual(resolveExpiry({ expiresOn: now / 1000 + 1800, now, policy }), {
      expiresAt: now + 1_800_000,
      source: "expires_on",
      capped: false,
    });
    assert.equal(resolveExpiry({ expiresOn: String(now / 1000 + 1800), now, policy }).expiresAt, now + 1_800_000);
  });

  it("reads an epoch-milliseconds expires_on as milliseconds", () => {
    assert.equal(resolveExpiry({ expiresOn: now + 1_800_000, now, policy }).expiresAt, now + 1_800_000);
  });

  it("reads expires_on as an ISO date", () => {
    const r = resolveExpiry({ expiresOn: new Date(now + 900_000).toISOString(), now, policy });
    assert.equal(r.source, "expires_on");
    assert.equal(r.expiresAt, now + 900_000);
  });

  it("ignores an unparseable expires_on", () => {
    for (const bad of ["1.5", "tomorrow", -1, 0]) {
      assert.equal(resolveExpiry({ expiresOn: bad, now, policy }).source, "default", `expires_on ${String(bad)}`);
    }
  });

  it("refuses a credential whose expires_on is not in the future", () => {
    for (const past of [now / 1000 - 1, now / 1000, String(now / 1000 - 60), new Date(now - 1000).toISOString(), now - 1]) {
      assert.throws(
        () => resolveExpiry({ expiresOn: past, now, policy }),
        (e: unknown) => e instanceof UpstreamFailure && /already expired \(expires_on in the past\)/.test(e.summary),
        `expires_on ${String(past)}`,
      );
    }
  });

  it("falls back to the JWT exp when the partner states no lifetime", () => {
    const r = resolveExpiry({ accessToken: jwt({ exp: now / 1000 + 2400 }), now, policy });
    assert.deepEqual(r, { expiresAt: now + 2_400_000, source: "jwt_exp", capped: false });
  });

  it("ignores opaque tokens and JWTs without a numeric exp", () => {
    for (const token of ["opaque-token", "a.b.c", jwt({ sub: "x" }), jwt({ exp: "soon" })]) {
      assert.equal(resolveExpiry({ accessToken: token, now, policy }).source, "default", token);
    }
  });

  it("refuses a JWT whose exp has passed, whatever expires_in claims", () => {
    for (const input of [{}, { expiresIn: 3600 }, { expiresOn: now / 1000 + 3600 }]) {
      assert.throws(
        () => resolveExpiry({ ...input, accessToken: jwt({ exp: now / 1000 - 60 }), now, policy }),
        (e: unknown) => e instanceof UpstreamFailure && /already expired \(JWT exp in the past\)/.test(e.summary),
        JSON.stringify(input),
      );
    }
  });

  it("uses the default lifetime when there is no hint at all", () => {
    assert.deepEqual(resolveExpiry({ now, policy }), { expiresAt: now + 600_000, source: "default", capped: false });
  });

  it("caps every source at maxTtlSec", () => {
    const far = now / 1000 + 86_400 * 30;
    for (const input of [{ expiresIn: 86_400 * 30 }, { expiresOn: far }, { accessToken: jwt({ exp: far }) }, { expiresIn: 1e308 }]) {
      const r = resolveExpiry({ ...input, now, policy });
      assert.equal(r.expiresAt, now + 7_200_000, JSON.stringify(input));
      assert.equal(r.capped, true);
    }
    assert.equal(resolveExpiry({ now, policy: { defaultTtlSec: 9000, maxTtlSec: 100 } }).expiresAt, now + 100_000);
  });
});
