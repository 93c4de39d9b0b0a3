import { after, before, beforeEach } from "node:test";
import { EntraAuthority } from "../../../dev/sandbox/entra-authority.js";
import { serveHandlers, type ServedHandlers } from "../../../dev/sandbox/serve.js";
import { ensureDevTls, type DevTls } from "../../../dev/tls.js";
import { EntraProviderSchema, type EntraProviderConfig } from "../../../shared/config/entra-schema.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import type { EntraCredentialFactory } from "../../../shared/providers/entra-client-auth.js";
import { EntraSource } from "../../../shared/providers/entra-source.js";
import { UpstreamCaller } from "../../../shared/upstream/upstream-caller.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { selfSignedClientCertificate } from "../../support/client-certificate.js";
import { ManualClock } from "../../support/manual-clock.js";

/**
 * An EntraSource against the sandbox Entra authority over real HTTPS, shared by the tests of the
 * source, its client authentication and its reading of the exchanges. The sandbox state is exported
 * as live bindings set by the hooks of useEntraAuthority(), so each test reads the current one.
 */

export const TENANT = "f10we000-0000-4000-8000-000000000001";
export const CLIENT = "c11e0000-0000-4000-8000-000000000001";
export const CERT_CLIENT = "c11e0000-0000-4000-8000-000000000002";
export const SCOPE = "api://p1-test/.default";
export const BUS_SCOPE = "https://servicebus.azure.net/.default";
export const CLIENT_SECRET = `CANARY-${crypto.randomUUID()}`;
export const AUTH_KEY = `CANARY-${crypto.randomUUID()}`;

export interface Harness {
  source: EntraSource;
  clock: ManualClock;
  logger: MemoryLogger;
  config: EntraProviderConfig;
}

export let tls: DevTls;
export let served: ServedHandlers;
export let authority: EntraAuthority;
export let secrets: MemorySecretStore;
let certificatePem: string;

/** Registers the hooks of the enclosing suite: one authority for the suite, a fresh store per test. */
export function useEntraAuthority(): void {
  before(async () => {
    // The source imports the SDK on its first token request; a cold import under a busy test run
    // can take longer than a second, which would count in the first test's measured lifetime.
    await import("@azure/identity");
    tls = await ensureDevTls();
    const cert = await selfSignedClientCertificate("broker-cert-client");
    certificatePem = `${cert.privateKeyPem}\n${cert.certificatePem}`;
    authority = new EntraAuthority({
      origin: () => served.url,
      clients: [
        { tenantId: TENANT, clientId: CLIENT, clientSecret: CLIENT_SECRET, allowedScopes: [SCOPE, BUS_SCOPE] },
        { tenantId: TENANT, clientId: CERT_CLIENT, certificatePem: cert.certificatePem, allowedScopes: [SCOPE] },
      ],
    });
    served = await serveHandlers([authority.handler], { tls });
  });

  after(async () => {
    await served.close();
  });

  beforeEach(async () => {
    authority.faults.length = 0;
    authority.setClientSecret(TENANT, CLIENT, CLIENT_SECRET);
    secrets = new MemorySecretStore();
    await secrets.set("flowe-client-secret", CLIENT_SECRET);
    await secrets.set("flowe-authkey", AUTH_KEY);
    await secrets.set("broker-cert", certificatePem);
  });
}

export function harness(overrides: Record<string, unknown> = {}, factory?: EntraCredentialFactory): Harness {
  // The SDK stamps expiry with the real clock, so the manual one starts at real time.
  const clock = new ManualClock(Date.now());
  const logger = new MemoryLogger();
  const config = EntraProviderSchema.parse({
    kind: "entra",
    tenantId: TENANT,
    clientId: CLIENT,
    clientSecret: { secret: "flowe-client-secret" },
    scope: SCOPE,
    authorityHost: served.url,
    disableInstanceDiscovery: true,
    upstream: { maxAttempts: 3, baseDelayMs: 200, timeoutMs: 5000 },
    ...overrides,
  });
  const caller = new UpstreamCaller("flowe", config.upstream, { clock, sleeper: clock, random: () => 0.5, logger });
  const source = new EntraSource({ name: "flowe", config, secrets, clock, caller, credentialFactory: factory });
  return { source, clock, logger, config };
}

export async function issue(h: Harness, force = false) {
  const prepared = await h.source.prepare();
  return prepared.issue({ force });
}
