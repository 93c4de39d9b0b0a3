import { randomBytes } from "node:crypto";
import type { SandboxHandler } from "../../../dev/sandbox/route.js";
import { serveHandlers } from "../../../dev/sandbox/serve.js";
import { SilverflowSandbox, newSilverflowKeyId, type SilverflowKeyRecord } from "../../../dev/sandbox/silverflow.js";
import { ensureDevTls } from "../../../dev/tls.js";
import { ApiKeyProviderSchema } from "../../../shared/config/api-key-schema.js";
import type { ProviderConfig } from "../../../shared/config/schema.js";
import type { FetchLike } from "../../../shared/http/fetch-like.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import type { SecretStore, SecretVersion, SecretVersionInfo } from "../../../shared/secrets/secret-store.js";
import { InProcessLock } from "../../../shared/rotation/in-process-lock.js";
import { basicHeader } from "../../../shared/rotation/key-api.js";
import type { Lock } from "../../../shared/rotation/lock.js";
import { RotationService } from "../../../shared/rotation/rotation-service.js";
import { parseStoredKey, type StoredKey } from "../../../shared/rotation/stored-key.js";
import type { Telemetry } from "../../../shared/telemetry/telemetry.js";
import { MemorySecretStore, type StoreOp } from "../../fakes/memory-secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";

/**
 * Rotation against the Silverflow sandbox over real HTTPS, with an invariant monitor and a crash
 * switch. A "crash" makes every later store and partner call of the crashed service instance fail
 * (the process is gone): nothing it does afterwards can have an effect, exactly like a dead process.
 */

export const PROVIDER = "silverflow";
export const KEY_SECRET = "silverflow-api-key";
export const JOURNAL = "silverflow-api-key-rotation";
export const HOUR = 3_600_000;
/** The marker of the default keyNamePrefix ("token-broker"), also the format of keys made before prefixes existed. */
export const MARKER = `token-broker:${PROVIDER}:`;
const PERMISSIONS = ["apiKeys:All", "charges:List", "bearerTokens:Create"];

/** One HTTPS server per test file; each test plugs in a fresh sandbox. */
export async function startPartnerServer(): Promise<{ url: string; use(handler: SandboxHandler): void; close(): Promise<void> }> {
  let current: SandboxHandler = () => false;
  const served = await serveHandlers([(req, res, body, url) => current(req, res, body, url)], { tls: await ensureDevTls() });
  return { url: served.url, use: (handler) => (current = handler), close: () => served.close() };
}

export type PartnerOp = "create" | "list" | "delete" | "verify";

export function partnerOp(method: string, url: string): PartnerOp | undefined {
  const path = new URL(url).pathname;
  if (path === "/silverflow/api-keys") return method === "POST" ? "create" : method === "GET" ? "list" : undefined;
  if (path.startsWith("/silverflow/api-keys/") && method === "DELETE") return "delete";
  if (path === "/silverflow/charges") return "verify";
  return undefined;
}

export type CrashRule =
  | { store: StoreOp; name: string; when?: (value: string) => boolean; at: "before" | "after" }
  | { partner: PartnerOp; at: "before" | "after"; nth?: number };

export class ProcessCrashed extends Error {
  override readonly name = "ProcessCrashed";
}

export class Crash {
  tripped = false;
  private seen = 0;

  constructor(private readonly rule: CrashRule) {}

  store(inner: SecretStore): SecretStore {
    const guard = async <T>(op: StoreOp, name: string, value: string | undefined, call: () => Promise<T>): Promise<T> => {
      if (this.tripped) throw new ProcessCrashed("process is gone");
      const rule = this.rule;
      const hit = "store" in rule && rule.store === op && rule.name === name && (rule.when === undefined || (value !== undefined && rule.when(value)));
      if (!hit) return call();
      if (rule.at === "before") this.trip();
      await call();
      return this.trip();
    };
    return {
      get: (name, version) => guard("get", name, undefined, () => inner.get(name, version)),
      set: (name, value, tags) => guard("set", name, value, () => inner.set(name, value, tags)),
      listVersions: (name) => guard("list", name, undefined, () => inner.listVersions(name)),
    };
  }

  fetch(inner: FetchLike): FetchLike {
    return async (input, init) => {
      if (this.tripped) throw new ProcessCrashed("process is gone");
      const rule = this.rule;
      const op = partnerOp(init?.method ?? "GET", String(input));
      const hit = "partner" in rule && rule.partner === op && ++this.seen === (rule.nth ?? 1);
      if (!hit) return inner(input, init);
      if (rule.at === "before") this.trip();
      const response = await inner(input, init);
      await response.arrayBuffer(); // the partner did its work; the answer dies with the process
      this.trip();
      throw new ProcessCrashed("unreachable");
    };
  }

  private trip(): never {
    this.tripped = true;
    throw new ProcessCrashed("crashed");
  }
}

export const phaseIs =
  (phase: string) =>
  (value: string): boolean =>
    (JSON.parse(value) as { phase?: string }).phase === phase;

export interface WorldOptions {
  maxKeys?: number;
  propagationDelayMs?: number;
  /** Extra partner keys: foreign ones have no broker marker. */
  foreignKeys?: number;
  ownOrphans?: number;
  otherProviderOrphans?: number;
  /** Keys named by another deployment (keyNamePrefix "other-deployment") for the same provider. */
  otherDeploymentKeys?: number;
  rotation?: Record<string, unknown>;
}

export class World {
  readonly clock = new ManualClock();
  readonly store = new MemorySecretStore(this.clock);
  readonly logger = new MemoryLogger();
  readonly lock: Lock = new InProcessLock(this.clock);
  readonly sandbox: SilverflowSandbox;
  readonly initial = { id: newSilverflowKeyId(), secret: `CANARY-${randomBytes(12).toString("hex")}` };
  readonly foreignIds: string[] = [];
  /** Broker keys left over from earlier (set-up): the sweep removes them; they are not "extra" keys of a run. */
  readonly leftovers = new Set<string>();
  /** Every secret the partner ever handed out plus the initial one: none may appear in output. */
  readonly secrets: string[] = [this.initial.secret];
  readonly violations: string[] = [];
  readonly promoted: string[] = [];
  /** Order of journal phases, key secret writes and partner calls, as they happened. */
  readonly trace: string[] = [];
  /** When set, the sandbox's clock stands still (a new key then never finishes propagating). */
  frozenSandboxTime: number | undefined;
  /** Called before each partner call of any service instance: lets a test act "meanwhile" (e.g. an operator). */
  beforePartnerCall: ((op: PartnerOp | undefined) => void) | undefined;
  readonly provider: ProviderConfig;
  /** Name start of this deployment's keys (rotation.keyNamePrefix). */
  readonly marker: string;

  constructor(
    readonly url: string,
    options: WorldOptions = {},
  ) {
    this.sandbox = new SilverflowSandbox({
      maxKeys: options.maxKeys ?? 40,
      propagationDelayMs: options.propagationDelayMs ?? 0,
      now: () => this.frozenSandboxTime ?? this.clock.now(),
      initialKeys: [
        {
          key: this.initial.id,
          secret: this.initial.secret,
          permissions: PERMISSIONS,
          ipRestrictions: ["127.0.0.1/32"],
          name: "initial (agent activation)",
        },
      ],
    });
    for (let i = 0; i < (options.foreignKeys ?? 0); i++) {
      this.foreignIds.push(this.sandbox.createKey({ name: `data lake ${i}`, permissions: ["charges:List"] }).key);
    }
    const prefix = options.rotation?.keyNamePrefix;
    this.marker = `${typeof prefix === "string" ? prefix : "token-broker"}:${PROVIDER}:`;
    for (let i = 0; i < (options.ownOrphans ?? 0); i++) {
      this.leftovers.add(this.sandbox.createKey({ name: `${this.marker}old-${i}`, permissions: PERMISSIONS }).key);
    }
    for (let i = 0; i < (options.otherDeploymentKeys ?? 0); i++) {
      this.foreignIds.push(this.sandbox.createKey({ name: `other-deployment:${PROVIDER}:${i}`, permissions: PERMISSIONS }).key);
    }
    for (let i = 0; i < (options.otherProviderOrphans ?? 0); i++) {
      this.foreignIds.push(this.sandbox.createKey({ name: `token-broker:other:${i}`, permissions: PERMISSIONS }).key);
    }
    this.provider = ApiKeyProviderSchema.parse({
      kind: "api-key",
      key: { secret: KEY_SECRET },
      scheme: "basic",
      upstream: { timeoutMs: 400, maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 50, breakerFailures: 1000 },
      rotation: {
        mode: "partner-api",
        intervalHours: 720,
        graceMinutes: 60,
        maxFailures: 3,
        verify: { attempts: 3, delayMs: 1000 },
        // Pages of 10 (Silverflow's default page size): a 40-key account is listed in 4 pages.
        keyApi: { preset: "silverflow", baseUrl: `${url}/silverflow`, pageSize: 10 },
        ...options.rotation,
      },
    });
    // A key an operator stored by hand at agent activation: no createdAt, no tags.
    this.store.seed(KEY_SECRET, JSON.stringify({ id: this.initial.id, secret: this.initial.secret }));
  }

  /** A service instance (a process). Each gets its own lock unless one is shared on purpose. */
  service(
    options: { crash?: Crash; lock?: Lock; lockTtlMs?: number; onPromoted?: (provider: string) => Promise<void>; telemetry?: Telemetry } = {},
  ): RotationService {
    const store = this.monitoredStore();
    const fetch = this.monitoredFetch();
    return new RotationService({
      config: { providers: { [PROVIDER]: this.provider } },
      secrets: options.crash ? options.crash.store(store) : store,
      fetch: options.crash ? options.crash.fetch(fetch) : fetch,
      clock: this.clock,
      sleeper: this.clock,
      random: () => 0.5,
      logger: this.logger,
      lock: options.lock ?? new InProcessLock(this.clock),
      ...(options.lockTtlMs === undefined ? {} : { lockTtlMs: options.lockTtlMs }),
      ...(options.telemetry === undefined ? {} : { telemetry: options.telemetry }),
      onPromoted:
        options.onPromoted ??
        (async (provider) => {
          this.promoted.push(provider);
        }),
    });
  }

  current(): StoredKey {
    return parseStoredKey(this.store.latest(KEY_SECRET)!);
  }

  journal(): Record<string, unknown> | undefined {
    const latest = this.store.latest(JOURNAL);
    return latest ? (JSON.parse(latest.value) as Record<string, unknown>) : undefined;
  }

  partnerKeys(): SilverflowKeyRecord[] {
    return this.sandbox.keys();
  }

  brokerKeys(): SilverflowKeyRecord[] {
    return this.partnerKeys().filter((k) => k.name.startsWith(this.marker));
  }

  /** GET /silverflow/charges with a key, as a caller of the broker would. */
  async works(key: { id: string; secret: string }): Promise<boolean> {
    const response = await fetch(`${this.url}/silverflow/charges`, { headers: { authorization: basicHeader(key) } });
    await response.arrayBuffer();
    return response.status === 200;
  }

  /** The invariants that must hold at every instant; violations are collected, asserted by tests. */
  async check(label: string): Promise<void> {
    const latest = this.store.latest(KEY_SECRET);
    if (!latest) return void this.violations.push(`${label}: no key secret`);
    const key = parseStoredKey(latest);
    if (!(await this.works(key))) this.violations.push(`${label}: the stored key ${key.id} does not work`);
    const keys = this.partnerKeys();
    const extra = keys.filter((k) => k.name.startsWith(this.marker) && k.key !== key.id && k.key !== key.previous?.id && !this.leftovers.has(k.key));
    if (extra.length > 1) this.violations.push(`${label}: ${extra.length} extra broker keys at the partner`);
    const missingForeign = this.foreignIds.filter((id) => !keys.some((k) => k.key === id));
    if (missingForeign.length) this.violations.push(`${label}: foreign keys deleted: ${missingForeign.join(",")}`);
  }

  private monitoredStore(): SecretStore {
    const inner = this.store;
    return {
      get: (name, version) => inner.get(name, version),
      listVersions: (name): Promise<SecretVersionInfo[]> => inner.listVersions(name),
      set: async (name, value, tags): Promise<SecretVersion> => {
        this.trace.push(name === JOURNAL ? `journal:${(JSON.parse(value) as { phase: string }).phase}` : `secret:${name}`);
        try {
          return await inner.set(name, value, tags);
        } finally {
          if (name === KEY_SECRET) await this.check(`after key secret write`);
        }
      },
    };
  }

  private monitoredFetch(): FetchLike {
    return async (input, init) => {
      const op = partnerOp(init?.method ?? "GET", String(input));
      this.trace.push(`partner:${op ?? "other"}`);
      this.beforePartnerCall?.(op);
      this.harvestSecrets();
      const response = await fetch(input, init);
      if (op === "create" && response.status === 201) {
        const body = (await response.clone().json()) as { secret?: string };
        if (body.secret) this.secrets.push(body.secret);
      }
      if (op === "delete") {
        const body = await response.arrayBuffer();
        await this.check(`after partner delete`);
        return new Response(response.status === 204 ? null : body, { status: response.status, headers: response.headers });
      }
      return response;
    };
  }

  /** Remembers every secret the partner holds now, so keys deleted later are still checked for leaks. */
  harvestSecrets(): void {
    for (const key of this.sandbox.keys()) if (!this.secrets.includes(key.secret)) this.secrets.push(key.secret);
  }

  /** No secret value in any log line or in the given outputs (results, errors, status). */
  leaks(outputs: unknown[]): string[] {
    this.harvestSecrets();
    const texts = [...this.logger.lines, ...outputs.map((o) => (o instanceof Error ? `${o.message} ${JSON.stringify(o)}` : JSON.stringify(o)))];
    return this.secrets.filter((secret) => texts.some((t) => t.includes(secret)));
  }
}
