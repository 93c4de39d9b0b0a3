import { test } from "node:test";
import assert from "node:assert/strict";
import { serializeTokenBody } from "../../../shared/broker/token-body.js";
import type { IssuedCredential } from "../../../shared/providers/credential.js";

const now = Date.UTC(2026, 10, 23, 12, 0, 0);

test("a token credential serializes to the documented body, in contract order", () => {
  const credential: IssuedCredential = Object.freeze({
    tokenType: "Bearer",
    accessToken: 'tok"en\\1',
    headers: { Authorization: 'Bearer tok"en\\1', AuthKey: "k" },
    expiresAt: now + 3599_500,
    issuedAt: now,
    fingerprint: "sha256:000000000000",
  });
  const text = serializeTokenBody("flowe", credential, now, "api://p1-test/.default");
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body), ["provider", "token_type", "access_token", "scope", "expires_in", "expires_at", "headers", "fingerprint"]);
  assert.deepEqual(body, {
    provider: "flowe",
    token_type: "Bearer",
    access_token: 'tok"en\\1',
    scope: "api://p1-test/.default",
    expires_in: 3599,
    expires_at: new Date(now + 3599_500).toISOString(),
    headers: { Authorization: 'Bearer tok"en\\1', AuthKey: "k" },
    fingerprint: "sha256:000000000000",
  });
  // Later hits reuse the template; only expires_in moves.
  assert.equal(JSON.parse(serializeTokenBody("flowe", credential, now + 60_000)).expires_in, 3539);
  assert.equal(JSON.parse(serializeTokenBody("flowe", credential, now + 4_000_000)).expires_in, 0);
});

test("a static key has no access_token", () => {
  const credential: IssuedCredential = Object.freeze({
    tokenType: "ApiKey",
    headers: { Authorization: "pfx_key" },
    expiresAt: now + 900_000,
    issuedAt: now,
    fingerprint: "sha256:111111111111",
  });
  const body = JSON.parse(serializeTokenBody("phixflow", credential, now, "ignored-for-static-keys"));
  assert.deepEqual(Object.keys(body), ["provider", "token_type", "expires_in", "expires_at", "headers", "fingerprint"]);
  assert.equal(body.expires_in, 900);
});
