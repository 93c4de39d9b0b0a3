import { test } from "node:test";
import assert from "node:assert/strict";
import { TokenResponses } from "../../../shared/http/token-response.js";
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
  const responses = new TokenResponses();
  const result = responses.result({ provider: "flowe", credential, scope: "api://p1-test/.default", expiresInSec: 3599 });
  assert.equal(result.status, 200);
  assert.equal(result.headers["cache-control"], "no-store");
  const body = JSON.parse(result.body);
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
  // Later hits of the same credential: only expires_in moves.
  const later = JSON.parse(responses.result({ provider: "flowe", credential, scope: "api://p1-test/.default", expiresInSec: 3539 }).body);
  assert.deepEqual(later, { ...body, expires_in: 3539 });
  assert.equal(JSON.parse(responses.result({ provider: "flowe", credential, scope: "api://p1-test/.default", expiresInSec: 0 }).body).expires_in, 0);
});

test("a static key has no access_token", () => {
  const credential: IssuedCredential = Object.freeze({
    tokenType: "ApiKey",
    headers: { Authorization: "pfx_key" },
    expiresAt: now + 900_000,
    issuedAt: now,
    fingerprint: "sha256:111111111111",
  });
  const body = JSON.parse(new TokenResponses().result({ provider: "phixflow", credential, scope: "ignored-for-static-keys", expiresInSec: 900 }).body);
  assert.deepEqual(Object.keys(body), ["provider", "token_type", "expires_in", "expires_at", "headers", "fingerprint"]);
  assert.equal(body.expires_in, 900);
});
