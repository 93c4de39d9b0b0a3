import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import Provider from "oidc-provider";
import { BROKER_IDENTITY } from "../../dev/sandbox/demo-identities.js";
import { ensureDevTls } from "../../dev/tls.js";
import { KeyVaultKeysServer } from "../fakes/key-vault-keys-server.js";
import { startDemoBroker, type DemoBroker } from "../support/demo-broker.js";

/**
 * private_key_jwt end to end: a real OAuth server (oidc-provider) with a client registered for
 * private_key_jwt whose jwks_uri is the broker's /api/jwks; the broker signs its assertions with a
 * Key Vault key through the real @azure/keyvault-keys client (managed identity from the sandbox)
 * against the loopback keys vault, which alone holds the private key.
 */
const DAY = 86_400_000;
const KEY = "partner-assertion-key";

let demo: DemoBroker;
let vault: KeyVaultKeysServer;
let issuer = "";
let provider: Provider | undefined;
const oauth = createServer((req: IncomingMessage, res: ServerResponse) => {
  if (!provider) return void res.writeHead(503).end();
  void provider.callback()(req, res);
});

before(async () => {
  vault = await KeyVaultKeysServer.start({
    tls: await ensureDevTls(),
    // Only the broker's managed identity (as the sandbox authority issued it) may use the vault.
    acceptToken: async (token) =>
      (await demo.env.sandbox.authority.verifyAccessToken(token, { audience: "https://vault.azure.net", tenantId: BROKER_IDENTITY.tenantId })) !== undefined,
  });
  vault.seed(KEY, "RSA", Date.now() - 40 * DAY);
  await new Promise<void>((resolve) => oauth.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(oauth.address() as AddressInfo).port}`;

  const pkjwt = (overrides: Record<string, unknown> = {}) => ({
    kind: "oauth2",
    tokenUrl: `${issuer}/token`,
    clientId: "broker-client",
    clientAuth: "private_key_jwt",
    signingKey: { keyVaultKey: KEY, vaultUrl: vault.url, algorithm: "RS256", rotation: { intervalDays: 30, publishOverlapMinutes: 1.1 } },
    scope: "api:read",
    ...overrides,
  });
  demo = await startDemoBroker({
    appSettings: { KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: "true" },
    edit: (raw) => {
      raw.providers["partner-pkjwt"] = pkjwt();
      raw.providers["partner-replaying"] = pkjwt({ assertion: { reuse: true } });
      raw.providers["partner-wrong-aud"] = pkjwt({ assertion: { audience: "https://someone-else.example/token" } });
      raw.callers["orders-service"].providers.push("partner-pkjwt", "partner-replaying", "partner-wrong-aud");
    },
  });

  provider = new Provider(issuer, {
    clients: [
      {
        client_id: "broker-client",
        token_endpoint_auth_method: "private_key_jwt",
        token_endpoint_auth_signing_alg: "RS256",
        jwks_uri: `${demo.broker.url}/api/jwks`,
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
        scope: "api:read",
      },
    ],
    scopes: ["api:read"],
    features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
    // Its SSRF guard refuses special-use addresses, loopback included: here the broker is on loopback.
    fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined } as RequestInit),
  });
});

after(async () => {
  oauth.closeAllConnections();
  await new Promise<void>((resolve) => oauth.close(() => resolve()));
  await demo?.close();
  await vault?.close();
});

const token = (name: string) => demo.call(`/api/token/${name}`, { caller: "orders-service" });
const refresh = (name: string) => demo.call(`/api/ops/providers/${name}/refresh`, { caller: "ops-console", method: "POST" });

describe("private_key_jwt with a Key Vault key against a real OAuth server", () => {
  test("the server issues tokens to assertions the vault signed, verified with the broker's /api/jwks", async () => {
    const signs = vault.counts.sign;
    const res = await token("partner-pkjwt");
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { access_token: string; token_type: string };
    assert.equal(body.token_type, "Bearer");
    assert.ok(body.access_token);
    assert.ok(vault.counts.sign > signs, "the vault made the signature");
    const jwks = await fetch(`${demo.broker.url}/api/jwks`);
    assert.match(jwks.headers.get("cache-control") ?? "", /^public, max-age=\d+$/);
    const { keys } = (await jwks.json()) as { keys: Record<string, unknown>[] };
    assert.deepEqual(keys.map((k) => k.kid), [vault.versions(KEY)[0]!.version]);
    assert.ok(keys.every((k) => !("d" in k) && !("p" in k)), "public keys only");
  });

  test("every token request carries a fresh assertion; a reused one is refused by the server as a replay", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await refresh("partner-pkjwt")).status, 200);
    assert.equal((await token("partner-replaying")).status, 200);
    const replay = await refresh("partner-replaying");
    assert.equal(replay.status, 502);
    assert.equal(((await replay.json()) as { code: string }).code, "upstream_rejected");
  });

  test("an assertion for another audience is refused", async () => {
    const res = await token("partner-wrong-aud");
    assert.equal(res.status, 502);
  });

  test("a key rotation: the new version is published before it signs, and no token request fails", { timeout: 120_000 }, async () => {
    const dry = (await (await demo.call("/api/ops/providers/partner-pkjwt/rotate?dry_run=true", { caller: "ops-console", method: "POST" })).json()) as {
      would_create: boolean;
    };
    assert.equal(dry.would_create, true);
    assert.equal(vault.versions(KEY).length, 1, "a dry run creates nothing");

    const rotated = (await (await demo.call("/api/ops/providers/partner-pkjwt/rotate", { caller: "ops-console", method: "POST" })).json()) as {
      created: string;
      signing: string;
    };
    const [old] = vault.versions(KEY);
    assert.ok(rotated.created);
    assert.equal(rotated.signing, old!.version, "the old version signs during the overlap");
    const published = (await (await fetch(`${demo.broker.url}/api/jwks`)).json()) as { keys: { kid: string }[] };
    assert.deepEqual(published.keys.map((k) => k.kid).sort(), [old!.version, rotated.created].sort());

    // Through the overlap (the server caches the key set for at least 60 s) and past it.
    const statuses: number[] = [];
    const deadline = Date.now() + 75_000;
    while (Date.now() < deadline) {
      statuses.push((await refresh("partner-pkjwt")).status);
      await sleep(3_000);
    }
    assert.deepEqual([...new Set(statuses)], [200], "no token request failed across the rotation");
    const status = (await (await demo.call("/api/ops/status", { caller: "ops-console" })).json()) as {
      signing_keys: { provider: string; signing: string; versions: { kid: string; state: string; age_days: number }[] }[];
    };
    const key = status.signing_keys.find((k) => k.provider === "partner-pkjwt");
    assert.equal(key?.signing, rotated.created, "the new version signs now");
    assert.deepEqual(
      key?.versions.map((v) => [v.kid, v.state]),
      [
        [rotated.created, "signing"],
        [old!.version, "previous"],
      ],
    );
    assert.ok(key!.versions[1]!.age_days >= 40, "the old version's age is shown");
  });
});
