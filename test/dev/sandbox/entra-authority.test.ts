import { createHash, X509Certificate } from "node:crypto";
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import { createLocalJWKSet, importPKCS8, jwtVerify, SignJWT, type JSONWebKeySet } from "jose";
import { EntraAuthority } from "../../../dev/sandbox/entra-authority.js";
import { serveHandlers, type ServedHandlers } from "../../../dev/sandbox/serve.js";
import { ensureDevTls } from "../../../dev/tls.js";
import { selfSignedClientCertificate, type ClientCertificate } from "../../support/client-certificate.js";

const TENANT = "11111111-2222-3333-4444-555555555555";
const SECRET_CLIENT = "aaaaaaaa-0000-0000-0000-000000000001";
const CERT_CLIENT = "aaaaaaaa-0000-0000-0000-000000000002";
const SCOPE = "api://p1-test/.default";
const BUS_SCOPE = "https://servicebus.azure.net/.default";
const SECRET = `CANARY-${crypto.randomUUID()}`;

interface TokenAnswer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
  text: string;
}

describe("EntraAuthority", () => {
  let served: ServedHandlers;
  let authority: EntraAuthority;
  let cert: ClientCertificate;
  let otherCert: ClientCertificate;

  before(async () => {
    const tls = await ensureDevTls();
    [cert, otherCert] = await Promise.all([selfSignedClientCertificate("cert-client"), selfSignedClientCertificate("intruder")]);
    authority = new EntraAuthority({
      origin: () => served.url,
      clients: [
        { tenantId: TENANT, clientId: SECRET_CLIENT, clientSecret: SECRET, allowedScopes: [SCOPE, BUS_SCOPE] },
        { tenantId: TENANT, clientId: CERT_CLIENT, certificatePem: cert.certificatePem, allowedScopes: [SCOPE] },
      ],
    });
    served = await serveHandlers([authority.handler], { tls });
  });

  after(async () => {
    await served.close();
  });

  async function postToken(form: Record<string, string>, init: { headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<TokenAnswer> {
    const response = await fetch(authority.tokenEndpoint(TENANT), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...init.headers },
      body: new URLSearchParams(form).toString(),
      signal: init.signal,
    });
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // garbage fault: keep the text
    }
    return { status: response.status, headers: response.headers, json, text };
  }

  const secretForm = (overrides: Record<string, string> = {}) => ({
    grant_type: "client_credentials",
    client_id: SECRET_CLIENT,
    client_secret: SECRET,
    scope: SCOPE,
    ...overrides,
  });

  test("publishes an OpenID configuration whose issuer and endpoints are on the served origin", async () => {
    const response = await fetch(`${served.url}/${TENANT}/v2.0/.well-known/openid-configuration`);
    assert.equal(response.status, 200);
    const doc = (await response.json()) as Record<string, string>;
    assert.equal(doc.issuer, `${served.url}/${TENANT}/v2.0`);
    assert.equal(doc.token_endpoint, `${served.url}/${TENANT}/oauth2/v2.0/token`);
    assert.equal(doc.jwks_uri, `${served.url}/${TENANT}/discovery/v2.0/keys`);
    assert.equal(doc.authorization_endpoint, `${served.url}/${TENANT}/oauth2/v2.0/authorize`);
  });

  test("answers an unknown tenant with Entra's invalid_tenant error", async () => {
    const response = await fetch(`${served.url}/no-such-tenant/v2.0/.well-known/openid-configuration`);
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: string; error_description: string };
    assert.equal(body.error, "invalid_tenant");
    assert.match(body.error_description, /^AADSTS90002:/);
  });

  test("leaves paths it does not know to other handlers", async () => {
    const response = await fetch(`${served.url}/something/else`);
    assert.equal(response.status, 404);
    assert.deepEqual(await response.json(), { error: "not_found" });
  });

  test("issues an RS256 access token for a client secret that verifies against the published JWKS", async () => {
    const answer = await postToken(secretForm());
    assert.equal(answer.status, 200);
    assert.equal(answer.json.token_type, "Bearer");
    assert.equal(answer.json.expires_in, 3599);
    assert.equal(answer.json.ext_expires_in, 3599);
    const token = String(answer.json.access_token);

    const jwks = (await (await fetch(authority.jwksUri(TENANT))).json()) as JSONWebKeySet;
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
      issuer: `${served.url}/${TENANT}/v2.0`,
      audience: "api://p1-test",
    });
    assert.equal(protectedHeader.alg, "RS256");
    assert.equal(payload.tid, TENANT);
    assert.equal(payload.appid, SECRET_CLIENT);
    assert.equal(payload.azp, SECRET_CLIENT);
    assert.equal(payload.sub, SECRET_CLIENT);
    assert.equal(payload.exp! - payload.iat!, 3599);
    assert.equal(payload.nbf, payload.iat);
  });

  test("uses the resource without /.default as audience, e.g. for Service Bus", async () => {
    const answer = await postToken(secretForm({ scope: BUS_SCOPE }));
    assert.equal(answer.status, 200);
    const claims = await authority.verifyAccessToken(String(answer.json.access_token), {
      audience: "https://servicebus.azure.net",
      tenantId: TENANT,
    });
    assert.equal(claims?.aud, "https://servicebus.azure.net");
  });

  test("accepts client_secret_basic as well as client_secret_post", async () => {
    const basic = Buffer.from(`${encodeURIComponent(SECRET_CLIENT)}:${encodeURIComponent(SECRET)}`).toString("base64");
    const answer = await postToken({ grant_type: "client_credentials", scope: SCOPE }, { headers: { authorization: `Basic ${basic}` } });
    assert.equal(answer.status, 200);
  });

  test("rejects a wrong secret with 401 invalid_client AADSTS7000215 without echoing it", async () => {
    const wrong = `CANARY-${crypto.randomUUID()}`;
    const answer = await postToken(secretForm({ client_secret: wrong }));
    assert.equal(answer.status, 401);
    assert.equal(answer.json.error, "invalid_client");
    assert.match(String(answer.json.error_description), /^AADSTS7000215:/);
    assert.deepEqual(answer.json.error_codes, [7000215]);
    assert.ok(!answer.text.includes(wrong));
    assert.ok(!answer.text.includes(SECRET));
  });

  test("rejects an unknown client with 401 invalid_client", async () => {
    const answer = await postToken(secretForm({ client_id: "not-registered" }));
    assert.equal(answer.status, 401);
    assert.equal(answer.json.error, "invalid_client");
  });

  test("rejects a scope the client may not request with 400 invalid_scope", async () => {
    const answer = await postToken(secretForm({ scope: "api://someone-else/.default" }));
    assert.equal(answer.status, 400);
    assert.equal(answer.json.error, "invalid_scope");
  });

  test("rejects a scope without /.default with 400 invalid_scope", async () => {
    const answer = await postToken(secretForm({ scope: "api://p1-test/read" }));
    assert.equal(answer.status, 400);
    assert.equal(answer.json.error, "invalid_scope");
  });

  test("answers missing parameters with 400 invalid_request", async () => {
    for (const missing of ["scope", "grant_type", "client_id"]) {
      const form: Record<string, string> = secretForm();
      delete form[missing];
      const answer = await postToken(form);
      assert.equal(answer.status, 400, missing);
      assert.equal(answer.json.error, "invalid_request", missing);
      assert.match(String(answer.json.error_description), new RegExp(`'${missing}'`));
    }
  });

  test("refuses grants other than client_credentials", async () => {
    const answer = await postToken(secretForm({ grant_type: "password" }));
    assert.equal(answer.status, 400);
    assert.equal(answer.json.error, "unsupported_grant_type");
  });

  test("accepts a client assertion signed by the registered certificate", async () => {
    for (const alg of ["RS256", "PS256"] as const) {
      const assertion = await clientAssertion(cert, { alg, audience: authority.tokenEndpoint(TENANT) });
      const answer = await postToken(assertionForm(assertion));
      assert.equal(answer.status, 200, alg);
      const claims = await authority.verifyAccessToken(String(answer.json.access_token), { audience: "api://p1-test", tenantId: TENANT });
      assert.equal(claims?.appid, CERT_CLIENT);
      assert.equal(claims?.azpacr, "2");
    }
  });

  test("rejects a client assertion signed by another key", async () => {
    const forged = await clientAssertion(otherCert, { alg: "RS256", audience: authority.tokenEndpoint(TENANT), thumbprintOf: cert });
    const answer = await postToken(assertionForm(forged));
    assert.equal(answer.status, 401);
    assert.equal(answer.json.error, "invalid_client");
    assert.match(String(answer.json.error_description), /^AADSTS700027:/);
  });

  test("rejects a client assertion meant for another audience", async () => {
    const assertion = await clientAssertion(cert, { alg: "RS256", audience: "https://login.example/other/oauth2/v2.0/token" });
    const answer = await postToken(assertionForm(assertion));
    assert.equal(answer.status, 401);
    assert.equal(answer.json.error, "invalid_client");
  });

  test("rejects an expired client assertion", async () => {
    const assertion = await clientAssertion(cert, { alg: "RS256", audience: authority.tokenEndpoint(TENANT), expiresAt: Math.floor(Date.now() / 1000) - 3600 });
    const answer = await postToken(assertionForm(assertion));
    assert.equal(answer.status, 401);
    assert.match(String(answer.json.error_description), /^AADSTS700024:/);
  });

  test("counts token requests in total and per client and scope, faulted ones included", async () => {
    const before = authority.tokenRequests;
    const beforeBus = authority.requestsFor(SECRET_CLIENT, BUS_SCOPE);
    authority.faults.push({ status: 503 });
    await postToken(secretForm({ scope: BUS_SCOPE }));
    await postToken(secretForm({ scope: BUS_SCOPE }));
    await postToken(secretForm({ client_secret: "wrong" }));
    assert.equal(authority.tokenRequests - before, 3);
    assert.equal(authority.requestsFor(SECRET_CLIENT, BUS_SCOPE) - beforeBus, 2);
  });

  test("plays queued faults in order, one per token request", async () => {
    authority.faults.push({ status: 429, retryAfterSec: 7 }, { status: 503 }, { garbage: true });
    const throttled = await postToken(secretForm());
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers.get("retry-after"), "7");
    assert.equal(throttled.json.error, "temporarily_unavailable");
    const unavailable = await postToken(secretForm());
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers.get("retry-after"), null);
    const garbage = await postToken(secretForm());
    assert.equal(garbage.status, 200);
    assert.throws(() => JSON.parse(garbage.text));
    const normal = await postToken(secretForm());
    assert.equal(normal.status, 200);
    assert.equal(authority.faults.length, 0);
  });

  test("drops the connection on a destroy fault", async () => {
    authority.faults.push({ destroy: true });
    await assert.rejects(postToken(secretForm()));
    assert.equal((await postToken(secretForm())).status, 200);
  });

  test("holds the answer back on a delay fault and counts a client that gives up", async () => {
    authority.faults.push({ delayMs: 10_000 });
    const before = authority.abandonedRequests;
    const abandoned = once(authority.events, "abandoned");
    await assert.rejects(postToken(secretForm(), { signal: AbortSignal.timeout(150) }), { name: "TimeoutError" });
    await abandoned;
    assert.equal(authority.abandonedRequests - before, 1);
    assert.equal(authority.faults.length, 0);
  });

  test("answers normally once a short delay fault has passed", async () => {
    authority.faults.push({ delayMs: 20 });
    const answer = await postToken(secretForm());
    assert.equal(answer.status, 200);
  });

  test("stops accepting a rotated-out secret at once and accepts the new one", async () => {
    const next = `CANARY-${crypto.randomUUID()}`;
    authority.setClientSecret(TENANT, SECRET_CLIENT, next);
    try {
      assert.equal((await postToken(secretForm())).status, 401);
      assert.equal((await postToken(secretForm({ client_secret: next }))).status, 200);
    } finally {
      authority.setClientSecret(TENANT, SECRET_CLIENT, SECRET);
    }
  });

  test("forgets a removed client and knows an added one", async () => {
    authority.addClient({ tenantId: TENANT, clientId: "late-client", clientSecret: "late-secret", allowedScopes: [SCOPE] });
    const form = secretForm({ client_id: "late-client", client_secret: "late-secret" });
    assert.equal((await postToken(form)).status, 200);
    assert.equal(authority.removeClient(TENANT, "late-client"), true);
    assert.equal((await postToken(form)).status, 401);
  });

  test("verifyAccessToken refuses another audience, another tenant and a tampered token", async () => {
    const token = String((await postToken(secretForm())).json.access_token);
    assert.ok(await authority.verifyAccessToken(token, { audience: "api://p1-test", tenantId: TENANT }));
    assert.equal(await authority.verifyAccessToken(token, { audience: "api://p1-prod", tenantId: TENANT }), undefined);
    assert.equal(await authority.verifyAccessToken(token, { audience: "api://p1-test", tenantId: "other-tenant" }), undefined);
    const [h, p, s] = token.split(".");
    const payload = JSON.parse(Buffer.from(p!, "base64url").toString()) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, appid: "someone-else" })).toString("base64url")}.${s}`;
    assert.equal(await authority.verifyAccessToken(forged, { audience: "api://p1-test", tenantId: TENANT }), undefined);
  });
});

function assertionForm(assertion: string): Record<string, string> {
  return {
    grant_type: "client_credentials",
    client_id: CERT_CLIENT,
    scope: SCOPE,
    client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    client_assertion: assertion,
  };
}

/** Builds a client assertion the way MSAL does (x5t for RS256, x5t#S256 for PS256). */
async function clientAssertion(
  signer: ClientCertificate,
  options: { alg: "RS256" | "PS256"; audience: string; expiresAt?: number; thumbprintOf?: ClientCertificate },
): Promise<string> {
  const raw = new X509Certificate((options.thumbprintOf ?? signer).certificatePem).raw;
  const header =
    options.alg === "RS256"
      ? { alg: options.alg, typ: "JWT", x5t: createHash("sha1").update(raw).digest("base64url") }
      : { alg: options.alg, typ: "JWT", "x5t#S256": createHash("sha256").update(raw).digest("base64url") };
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: crypto.randomUUID() })
    .setProtectedHeader(header)
    .setIssuer(CERT_CLIENT)
    .setSubject(CERT_CLIENT)
    .setAudience(options.audience)
    .setNotBefore(options.expiresAt === undefined ? now : options.expiresAt - 600)
    .setExpirationTime(options.expiresAt ?? now + 600)
    .sign(await importPKCS8(signer.privateKeyPem, options.alg));
}


