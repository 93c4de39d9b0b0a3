import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { OAuth2ProviderSchema } from "../../../shared/config/oauth2-schema.js";

describe("oauth2 tls_client_auth", () => {
  test("the config requires the certificate with tls_client_auth and refuses a client secret there", () => {
    const base = { kind: "oauth2", tokenUrl: "https://partner.example/token", clientId: "x", clientAuth: "tls_client_auth" };
    assert.equal(OAuth2ProviderSchema.safeParse(base).success, false);
    assert.equal(OAuth2ProviderSchema.safeParse({ ...base, tlsClientCertificate: { secret: "c" }, clientSecret: { secret: "s" } }).success, false);
    assert.equal(OAuth2ProviderSchema.safeParse({ ...base, clientAuth: "client_secret_basic" }).success, false);
    assert.equal(OAuth2ProviderSchema.safeParse({ ...base, tlsClientCertificate: { secret: "c" } }).success, true);
  });
});

describe("oauth2 private_key_jwt", () => {
  test("a signing key goes with private_key_jwt only, and names exactly one of keyVaultKey or pem", () => {
    const base = { kind: "oauth2", tokenUrl: "https://partner.example/token", clientId: "x", clientAuth: "private_key_jwt" };
    assert.equal(OAuth2ProviderSchema.safeParse(base).success, false);
    assert.equal(OAuth2ProviderSchema.safeParse({ ...base, signingKey: { keyVaultKey: "k" } }).success, true);
    assert.equal(OAuth2ProviderSchema.safeParse({ ...base, signingKey: { pem: { secret: "p" } } }).success, true);
    assert.equal(OAuth2ProviderSchema.safeParse({ ...base, signingKey: { keyVaultKey: "k", pem: { secret: "p" } } }).success, false);
    assert.equal(OAuth2ProviderSchema.safeParse({ ...base, signingKey: { pem: { secret: "p" }, rotation: { intervalDays: 30 } } }).success, false);
    const secretBased = { ...base, clientAuth: "client_secret_post", clientSecret: { secret: "s" } };
    assert.equal(OAuth2ProviderSchema.safeParse(secretBased).success, true);
    assert.equal(OAuth2ProviderSchema.safeParse({ ...secretBased, signingKey: { keyVaultKey: "k" } }).success, false);
  });
});
