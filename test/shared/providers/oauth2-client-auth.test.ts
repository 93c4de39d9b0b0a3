import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MtlsPartnerSandbox } from "../../../dev/sandbox/mtls-partner.js";
import { serveHandlers, type ServedHandlers } from "../../../dev/sandbox/serve.js";
import { ensureDevTls } from "../../../dev/tls.js";
import { OAuth2ProviderSchema } from "../../../shared/config/oauth2-schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { ClientCertificateTransports } from "../../../shared/http/client-certificate-transports.js";
import { undiciCertificateFetch } from "../../../shared/http/undici-certificate-fetch.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { OAuth2Source } from "../../../shared/providers/oauth2-source.js";
import { UpstreamCaller } from "../../../shared/upstream/upstream-caller.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { selfSignedClientCertificate, type ClientCertificate } from "../../support/client-certificate.js";
import { ManualClock } from "../../support/manual-clock.js";

/**
 * tls_client_auth (RFC 8705) through the real undici transport against a partner that accepts
 * only the registered client certificate, and proof that the certificate is presented on that
 * provider's connections only.
 */
let served: ServedHandlers;
let partner: MtlsPartnerSandbox;
let registered: ClientCertificate;
let stranger: ClientCertificate;
let pfxBase64: string;
const transports: ClientCertificateTransports[] = [];

before(async () => {
  const tls = await ensureDevTls();
  registered = await selfSignedClientCertificate("broker-mtls-client");
  stranger = await selfSignedClientCertificate("someone-else");
  partner = new MtlsPartnerSandbox([{ clientId: "mtls-client", certificatePem: registered.certificatePem }]);
  served = await serveHandlers([partner.handler], { tls, requestClientCertificate: true });
  pfxBase64 = toPfx(registered);
});

after(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await served.close();
});

/** What Key Vault serves for a certificate: a password-less PKCS#12, base64. Made by openssl, as a partner's file would be. */
function toPfx(cert: ClientCertificate): string {
  const dir = mkdtempSync(join(tmpdir(), "mtls-pfx-"));
  try {
    writeFileSync(join(dir, "cert.pem"), cert.certificatePem);
    writeFileSync(join(dir, "key.pem"), cert.privateKeyPem);
    const out = join(dir, "client.pfx");
    execFileSync("openssl", ["pkcs12", "-export", "-in", join(dir, "cert.pem"), "-inkey", join(dir, "key.pem"), "-passout", "pass:", "-out", out]);
    return readFileSync(out).toString("base64");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function source(secrets: MemorySecretStore, overrides: Record<string, unknown> = {}) {
  const clock = new ManualClock(Date.now());
  const logger = new MemoryLogger();
  const config = OAuth2ProviderSchema.parse({
    kind: "oauth2",
    tokenUrl: `${served.url}/mtls/oauth2/token`,
    clientId: "mtls-client",
    clientAuth: "tls_client_auth",
    tlsClientCertificate: { secret: "mtls-cert" },
    upstream: { maxAttempts: 1 },
    ...overrides,
  });
  const caller = new UpstreamCaller("mtls", config.upstream, { clock, sleeper: clock, random: () => 0.5, logger });
  const certificates = new ClientCertificateTransports(async () => undiciCertificateFetch);
  transports.push(certificates);
  return { source: new OAuth2Source({ name: "mtls", config, secrets, fetch: globalThis.fetch, clock, caller, certificates }), logger };
}

async function issue(s: OAuth2Source) {
  return (await s.prepare()).issue({ force: false });
}

describe("oauth2 tls_client_auth", () => {
  test("a PEM certificate secret gets a token from a partner that accepts only that certificate", async () => {
    const secrets = new MemorySecretStore();
    await secrets.set("mtls-cert", `${registered.privateKeyPem}\n${registered.certificatePem}`);
    const credential = await issue((await source(secrets)).source);
    assert.equal(credential.tokenType, "Bearer");
    // The token is bound to the certificate: without it on the connection, the partner refuses it.
    const bare = await fetch(`${served.url}/mtls/api/ping`, { headers: credential.headers });
    assert.equal(bare.status, 401);
    const bound = await undiciCertificateFetch({ cert: registered.certificatePem, key: registered.privateKeyPem });
    assert.equal((await bound.fetch(`${served.url}/mtls/api/ping`, { headers: credential.headers })).status, 200);
    await bound.close();
  });

  test("a base64 PFX secret, as Key Vault serves a certificate, works the same", async () => {
    const secrets = new MemorySecretStore();
    await secrets.set("mtls-cert", pfxBase64);
    assert.ok((await issue((await source(secrets)).source)).accessToken);
  });

  test("another certificate is upstream_rejected by the partner", async () => {
    const secrets = new MemorySecretStore();
    await secrets.set("mtls-cert", `${stranger.certificatePem}\n${stranger.privateKeyPem}`);
    const before = partner.requests.rejected;
    await assert.rejects(issue((await source(secrets)).source), (e: unknown) => e instanceof BrokerError && e.code === "upstream_rejected");
    assert.equal(partner.requests.rejected, before + 1);
  });

  test("the certificate is presented on that provider's connections only", async () => {
    const secrets = new MemorySecretStore();
    await secrets.set("mtls-cert", `${registered.certificatePem}\n${registered.privateKeyPem}`);
    await secrets.set("other-secret", "s3cret");
    await issue((await source(secrets)).source);
    // A provider of the same app without a certificate reaches the same endpoint without one.
    const plain = await source(secrets, { clientAuth: "client_secret_post", clientSecret: { secret: "other-secret" }, tlsClientCertificate: undefined });
    await assert.rejects(issue(plain.source), (e: unknown) => e instanceof BrokerError && e.code === "upstream_rejected");
  });

  test("a secret that is no certificate is secret_unavailable, naming the secret and never its value", async () => {
    const secrets = new MemorySecretStore();
    const canary = `CANARY-${crypto.randomUUID()}`;
    await secrets.set("mtls-cert", `-----BEGIN CERTIFICATE-----\n${canary}\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----`);
    const before = partner.requests.token;
    await assert.rejects(issue((await source(secrets)).source), (e: unknown) => {
      assert.ok(e instanceof BrokerError && e.code === "secret_unavailable");
      assert.match(e.detail, /"mtls-cert"/);
      assert.ok(!JSON.stringify(e).includes(canary) && !e.detail.includes(canary) && !String(e.cause).includes(canary));
      return true;
    });
    assert.equal(partner.requests.token, before, "nothing was sent");
  });

  test("a renewed certificate (new secret version) changes the cache key and is used at once", async () => {
    const secrets = new MemorySecretStore();
    await secrets.set("mtls-cert", `${stranger.certificatePem}\n${stranger.privateKeyPem}`);
    const { source: s } = await source(secrets);
    const first = await s.prepare();
    await secrets.set("mtls-cert", `${registered.certificatePem}\n${registered.privateKeyPem}`);
    const second = await s.prepare();
    assert.notEqual(first.cacheKey, second.cacheKey);
    assert.ok((await second.issue({ force: false })).accessToken);
  });
});
