/*
 * Over 250 lines on purpose: the composition root wires every component in one place, so the order
 * of construction and which store, clock and lock each one gets can be read top to bottom. Domain
 * logic does not belong here (the promotion cascade is rotation/promotion.ts).
 */
import { randomUUID } from "node:crypto";
import type { TokenCredential } from "@azure/identity";
import { IssuedAuditTrail } from "./broker/audit-trail.js";
import { FleetStatus } from "./broker/fleet-status.js";
import { TokenService } from "./broker/token-service.js";
import { CallerPolicy } from "./callers/caller-policy.js";
import { CallerVerifier } from "./callers/caller-verifier.js";
import type { Clock, Random, Sleeper } from "./clock.js";
import { parseEnv, type BrokerEnv } from "./config/env.js";
import { ConfigError, parseConfig } from "./config/load.js";
import type { BrokerConfig } from "./config/schema.js";
import { readConfigSource } from "./config/source.js";
import type { PartnerPlatform } from "./platform.js";
import type { CertificateFetchFactory } from "./http/client-certificate-transports.js";
import type { FetchLike } from "./http/fetch-like.js";
import { JsonLineLogger, type LineSink, type Logger } from "./log/logger.js";
import type { EntraCredentialFactory } from "./providers/entra-client-auth.js";
import { buildSources, type ProviderRuntime } from "./providers/source-registry.js";
import { CachingSecretStore } from "./secrets/caching-store.js";
import { FileSecretStore } from "./secrets/file-store.js";
import { localDirProblem } from "./secrets/secret-files.js";
import { LazySecretStore } from "./secrets/lazy-store.js";
import type { SecretStore } from "./secrets/secret-store.js";
import { TokenCache } from "./tokens/token-cache.js";
import { AdminService } from "./broker/admin-service.js";
import { RejectionService } from "./broker/rejection-service.js";
import { RejectedCredentialReplacer } from "./tokens/rejected-replacement.js";
import { InProcessLock } from "./rotation/in-process-lock.js";
import type { Lock } from "./rotation/lock.js";
import { forgetReplacedKey } from "./rotation/promotion.js";
import { RotationService } from "./rotation/rotation-service.js";
import { SigningKeys } from "./signing/signing-keys.js";
import type { Telemetry } from "./telemetry/telemetry.js";

export interface ComposeOptions {
  /** App settings (process.env in Azure and locally). */
  env: Record<string, string | undefined>;
  /** The function app root (the folder with host.json): a relative BROKER_CONFIG is resolved against it. */
  appRoot?: string;
  clock: Clock;
  sleeper: Sleeper;
  random: Random;
  fetch: FetchLike;
  /** Where log lines go (stdout: the Functions host forwards it to Application Insights). */
  sink: LineSink;
  /** Replaces the store chosen from KEY_VAULT_URL (tests). */
  secretStore?: SecretStore;
  credentialFactory?: EntraCredentialFactory;
  /** Replaces the mutual-TLS HTTP client of tls_client_auth providers (tests). */
  certificateFetchFactory?: CertificateFetchFactory;
  /** Rotation lock; in-process unless the fleet provides a distributed one. */
  lock?: Lock;
  /** The app's version, shown per instance in the fleet status. */
  version?: string;
  /** Replaces the telemetry chosen from APPLICATIONINSIGHTS_CONNECTION_STRING (tests). */
  telemetry?: Telemetry;
}

export interface Broker {
  config: BrokerConfig;
  env: BrokerEnv;
  logger: Logger;
  secrets: CachingSecretStore;
  providers: ReadonlyMap<string, ProviderRuntime>;
  cache: TokenCache;
  tokens: TokenService;
  rotation: RotationService;
  admin: AdminService;
  /** Keys that sign private_key_jwt assertions: /api/jwks and their rotation. */
  signingKeys: SigningKeys;
  rejections: RejectionService;
  audit: IssuedAuditTrail;
  /** Writes pending audit summaries and releases connections (Redis, mutual TLS) so the process can exit. */
  close(): Promise<void>;
}

/**
 * The composition root: reads and validates configuration, picks the secret store, and wires
 * every component with the clock, fetch, stores and logger it is given. Azure SDK clients are
 * created here and in their adapters only.
 */
export async function composeBroker(options: ComposeOptions): Promise<Broker> {
  const env = parseEnv(options.env);
  const { text, source } = readConfigSource(env, options.appRoot);
  const config = parseConfig(text, source);
  const { clock, sleeper, random, fetch } = options;
  const logger = new JsonLineLogger(options.sink, clock, env.LOG_LEVEL);
  // First, so that the clients created below are traced. Absent unless configured: no SDK loaded.
  const exporting = options.telemetry ? undefined : await startTelemetry(env, options.env);
  const telemetry = options.telemetry ?? exporting?.telemetry;

  const store = options.secretStore ?? (await chooseSecretStore(env, config, { clock, sleeper, random, logger }));
  const secrets = new CachingSecretStore(store, {
    clock,
    logger,
    ttlMs: config.secrets.cacheTtlSec * 1000,
    maxStaleMs: config.secrets.maxStaleSec * 1000,
    telemetry,
  });
  // Imported only when configured: the Redis client alone costs ~180 ms and ~9 MB of heap at
  // start-up, which every cold start of a single-instance app would pay for nothing.
  const fleetCache = env.REDIS_URL
    ? await (await import("./cache/fleet-cache.js")).createFleetCache({
        url: env.REDIS_URL,
        entraCredential: env.REDIS_ENTRA_AUTH ? await azureCredential() : undefined,
        config,
        secrets,
        clock,
        sleeper,
        random,
        logger,
      })
    : undefined;
  assertRotationLockIsSafe(env, config, Boolean(fleetCache || options.lock));
  const lock = options.lock ?? fleetCache?.lock ?? new InProcessLock(clock);
  const signingKeys = new SigningKeys({
    config,
    // Signing keys held as PEM secrets are read through the cache like any secret.
    secrets,
    clock,
    defaultVaultUrl: env.KEY_VAULT_URL,
    keyClient: async (vaultUrl) => {
      const { KeyClient } = await import("@azure/keyvault-keys");
      return new KeyClient(vaultUrl, await azureCredential(), {
        disableChallengeResourceVerification: env.KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION,
      });
    },
    lock,
  });
  // What every partner-facing component gets; rotation alone reads another secret store (below).
  const platform: PartnerPlatform = { secrets, fetch, clock, sleeper, random, logger, telemetry };
  const sources = buildSources(config, {
    ...platform,
    signingKeys,
    credentialFactory: options.credentialFactory,
    certificateFetchFactory: options.certificateFetchFactory,
  });
  const providers = sources.providers;
  if (telemetry) observeUpstreams(telemetry, providers);
  const cache = new TokenCache({
    clock,
    random,
    logger,
    backplane: fleetCache?.backplane,
    telemetry,
  });
  const audit = new IssuedAuditTrail({ logger, clock, sleeper, config: config.audit });
  const tokens = new TokenService({
    config,
    verifier: new CallerVerifier(config.issuers, { clock, sleeper, fetch, logger, telemetry, cacheSize: config.verifiedCallerCacheSize }),
    policy: new CallerPolicy(config.callers),
    cache,
    sources: new Map([...providers].map(([name, p]) => [name, p.source])),
    clock,
    logger,
    audit,
    telemetry,
  });
  const rotation = new RotationService({
    ...platform,
    config,
    // Rotation reads the store uncached: a stale read could make it delete the key in service.
    secrets: store,
    lock,
    onPromoted: forgetReplacedKey(config.providers, { secrets, cache }),
  });
  const fleetStatus = new FleetStatus({
    self: { id: randomUUID(), startedAt: clock.now(), version: options.version ?? "unknown" },
    clock,
    config: config.status,
    providers,
    cache,
    heartbeats: fleetCache?.heartbeats,
    sharedCache: fleetCache?.status,
  });
  const heartbeatLoop = fleetCache?.startHeartbeats({
    intervalMs: fleetStatus.heartbeatIntervalMs,
    ttlMs: fleetStatus.heartbeatTtlMs,
    beat: () => fleetStatus.beat(),
  });
  const admin = new AdminService({ config, tokens, cache, providers, rotation, clock, logger, fleetStatus, signingKeys });
  const rejections = new RejectionService({
    config,
    tokens,
    cache,
    // The rate limit takes a lease on the same (fleet-wide when Redis is on) lock as rotations.
    replacer: new RejectedCredentialReplacer({ cache, fleet: fleetCache?.fleet, lock }),
    logger,
  });
  logger.log("info", "broker_started", {
    providers: Object.keys(config.providers),
    secret_store: env.KEY_VAULT_URL ? "key-vault" : "local-file",
    shared_cache: fleetCache ? "redis" : "none",
    telemetry: exporting ? "azure-monitor" : options.telemetry ? "injected" : "none",
  });
  const close = async () => {
    audit.close();
    await heartbeatLoop?.stop();
    await fleetCache?.close();
    await sources.close();
    await exporting?.shutdown();
  };
  return { config, env, logger, secrets, providers, cache, tokens, rotation, admin, signingKeys, rejections, audit, close };
}

/**
 * In Azure (Key Vault) the app scales out, and two instances rotating the same partner key at
 * once can delete each other's new key. Without a fleet-wide lock (Redis) that is refused unless
 * the operator states the app runs on a single instance.
 */
function assertRotationLockIsSafe(env: BrokerEnv, config: BrokerConfig, distributedLock: boolean): void {
  if (!env.KEY_VAULT_URL || distributedLock || env.ALLOW_IN_PROCESS_ROTATION_LOCK) return;
  const rotating = Object.entries(config.providers)
    .filter(([, p]) => p.kind === "api-key" && p.rotation?.mode === "partner-api")
    .map(([name]) => name);
  if (rotating.length === 0) return;
  throw new ConfigError(
    `Partner-API rotation (${rotating.join(", ")}) on Key Vault needs a fleet-wide lock: set REDIS_URL, or ` +
      "ALLOW_IN_PROCESS_ROTATION_LOCK=true if the app never runs more than one instance.",
    ["REDIS_URL or ALLOW_IN_PROCESS_ROTATION_LOCK"],
  );
}

/**
 * One DefaultAzureCredential for Key Vault and Redis alike, so the managed identity is asked for
 * tokens by one credential (one MSAL cache) rather than one per client. Created, and the SDK
 * imported, only when one of them is configured.
 */
let sharedAzureCredential: Promise<TokenCredential> | undefined;
function azureCredential(): Promise<TokenCredential> {
  sharedAzureCredential ??= import("@azure/identity").then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
  return sharedAzureCredential;
}

/**
 * OpenTelemetry to Application Insights when a connection string is set, authenticated with the
 * managed identity. The SDK and exporters are one dynamic import: an app without the setting
 * loads none of it.
 */
async function startTelemetry(env: BrokerEnv, processEnv: Record<string, string | undefined>) {
  if (!env.APPLICATIONINSIGHTS_CONNECTION_STRING) return undefined;
  const { startAzureMonitor } = await import("./telemetry/azure-monitor.js");
  return startAzureMonitor({
    connectionString: env.APPLICATIONINSIGHTS_CONNECTION_STRING,
    credential: await azureCredential(),
    serviceName: env.WEBSITE_SITE_NAME ?? "token-broker",
    serviceInstanceId: env.WEBSITE_INSTANCE_ID,
    ingestionOnly: env.TELEMETRY_INGESTION_ONLY,
    metricIntervalMs: env.TELEMETRY_METRIC_INTERVAL_SEC === undefined ? undefined : env.TELEMETRY_METRIC_INTERVAL_SEC * 1000,
    env: processEnv,
  });
}

/** Circuit state and the partner's Retry-After per provider, read at each metric export. */
function observeUpstreams(telemetry: Telemetry, providers: ReadonlyMap<string, ProviderRuntime>): void {
  const callers = [...providers.values()].flatMap((p) => (p.caller ? [p.caller] : []));
  const STATE = { closed: 0, "half-open": 1, open: 2 } as const;
  telemetry.observe("circuitState", (emit) => {
    for (const caller of callers) emit(STATE[caller.breaker.state], { provider: caller.provider });
  });
  telemetry.observe("throttledFor", (emit) => {
    for (const caller of callers) emit(caller.throttledForMs() / 1000, { provider: caller.provider });
  });
}

async function chooseSecretStore(
  env: BrokerEnv,
  config: BrokerConfig,
  deps: { clock: Clock; sleeper: Sleeper; random: Random; logger: Logger },
): Promise<SecretStore> {
  const vaultUrl = env.KEY_VAULT_URL;
  if (!vaultUrl) {
    const problem = localDirProblem(config.secrets.localDir);
    if (problem !== undefined) throw new ConfigError(`secrets.localDir: ${problem}`, [`secrets.localDir: ${problem}`]);
    return new FileSecretStore(config.secrets.localDir, deps);
  }
  // The Key Vault SDK (and MSAL) load on the first secret read, not during the cold start.
  return new LazySecretStore(async () => {
    const { createKeyVaultSecretStore } = await import("./secrets/key-vault-store.js");
    return createKeyVaultSecretStore({
      vaultUrl,
      // In Azure this resolves to the Function App's managed identity (IDENTITY_ENDPOINT/IDENTITY_HEADER).
      credential: await azureCredential(),
      disableChallengeResourceVerification: env.KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION,
      ...deps,
    });
  });
}
