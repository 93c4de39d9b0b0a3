import assert from "node:assert/strict";
import { test } from "node:test";
import { credentialMetadata } from "../../../shared/broker/credential-metadata.js";

test("tells a credential's type, fingerprint and times in ISO form, never its value or headers", () => {
  const secret = `CANARY-${crypto.randomUUID()}`;
  const metadata = credentialMetadata({
    tokenType: "Bearer",
    accessToken: secret,
    headers: { Authorization: `Bearer ${secret}` },
    issuedAt: Date.UTC(2025, 0, 1, 12),
    expiresAt: Date.UTC(2025, 0, 1, 13),
    fingerprint: "sha256:0123456789ab",
  });
  assert.deepEqual(metadata, {
    token_type: "Bearer",
    fingerprint: "sha256:0123456789ab",
    issued_at: "2025-01-01T12:00:00.000Z",
    expires_at: "2025-01-01T13:00:00.000Z",
  });
  assert.ok(!JSON.stringify(metadata).includes(secret));
});
