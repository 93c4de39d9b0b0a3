import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { SignJWT, jwtVerify } from "jose";
import { z } from "zod";
import { addressInRanges, parseCidr } from "./cidr.js";
import { parseBasic, parseBearer, safeEqual, singleHeader } from "./credentials.js";
import { SILVERFLOW } from "./demo-identities.js";
import { randomAlphanumeric } from "./random.js";
import { sendJson, type SandboxHandler } from "./route.js";

/** Operations a fault can target. "auth" hits the authentication step of any request. */
export type SilverflowOp = "create" | "list" | "delete" | "patch" | "auth" | "bearer" | "charges";

/**
 * - "error": 500, nothing done;
 * - "commit-then-error": the operation happens, then 500 (the client cannot know it succeeded);
 * - "commit-then-hang": the operation happens, then no answer (socket destroyed after hangMs if set);
 * - "rate-limit": 429 with Retry-After: 1, nothing done.
 */
export type SilverflowFaultKind = "error" | "commit-then-error" | "commit-then-hang" | "rate-limit";

export interface SilverflowFault {
  op: SilverflowOp;
  kind: SilverflowFaultKind;
  hangMs?: number;
}

export interface SilverflowInitialKey {
  key: string;
  secret: string;
  permissions: string[];
  name?: string;
  description?: string;
  ipRestrictions?: string[];
}

export interface SilverflowSandboxOptions {
  initialKeys?: SilverflowInitialKey[];
  /** Partner limit on API keys (40 in the docs). */
  maxKeys?: number;
  /** A new key authenticates only this long after its creation. */
  propagationDelayMs?: number;
  /** Epoch ms; tests pass a movable clock for bearer expiry and propagation. */
  now?: () => number;
}

/** Full record of a key, secret included: test introspection only, never served over HTTP. */
export interface SilverflowKeyRecord {
  key: string;
  secret: string;
  name: string;
  description: string;
  permissions: string[];
  ipRestrictions: string[];
  createdAt: string;
  /** When the key starts to authenticate (createdAt + propagation delay). */
  activeAt: string;
}

/** Who a request authenticated as. For a bearer token, `key` is the API key that minted it. */
export interface SilverflowPrincipal {
  kind: "api-key" | "bearer";
  key: string;
  permissions: string[];
}

/** A key as the sandbox keeps it: the record's fields, with times as epoch ms. */
interface StoredKey extends Omit<SilverflowKeyRecord, "createdAt" | "activeAt"> {
  createdAt: number;
  activeAt: number;
  /** Creation order: the list's sort key and what its continuation token points after. */
  seq: number;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

type RouteName = "create" | "list" | "get" | "patch" | "delete" | "bearer" | "charges";

interface Route {
  name: RouteName;
  /** Which queued faults apply. */
  op: SilverflowOp;
  permission: string;
  /** Bearer minting is only open to API keys. */
  basicOnly: boolean;
  run(principal: SilverflowPrincipal, body: unknown): Promise<Reply> | Reply;
}

const PermissionSchema = z.string().regex(/^[A-Za-z]+:[A-Za-z]+$/, "must look like resource:Action");
const CidrSchema = z.string().refine((v) => parseCidr(v) !== undefined, "must be a CIDR block n.n.n.n/n");
const KeyFieldsSchema = z.object({
  name: z.string().max(200).optional(),
  description: z.string().max(1000).optional(),
  permissions: z.array(PermissionSchema).max(100).optional(),
  ipRestrictions: z.array(CidrSchema).max(100).optional(),
});
const BearerRequestSchema = z.object({
  permissions: z.array(PermissionSchema).max(100).optional(),
  ttlSec: z.number().int().min(60).max(86_400).optional(),
  ipRestrictions: z.array(CidrSchema).max(100).optional(),
});
const FaultSchema = z
  .object({
    op: z.enum(["create", "list", "delete", "patch", "auth", "bearer", "charges"]),
    kind: z.enum(["error", "commit-then-error", "commit-then-hang", "rate-limit"]),
    hangMs: z.number().int().min(0).optional(),
  })
  .strict();
const ControlSchema = z.union([
  FaultSchema,
  z
    .object({ faults: z.array(FaultSchema).optional(), down: z.boolean().optional(), clear: z.boolean().optional() })
    .strict(),
]);
const BearerClaimsSchema = z.object({
  sub: z.string(),
  permissions: z.array(z.string()),
  ipr: z.array(z.string()),
  gen: z.number(),
});

const BEARER_ISSUER = "https://silverflow.sandbox";
const BEARER_AUDIENCE = "silverflow-api";
const PROBLEM = { "content-type": "application/problem+json; charset=utf-8" };
/** Collection paging (docs.silverflow.com guides/pagination): `limit` 1-100, default 10; `offsetToken`. */
const DEFAULT_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 100;

/**
 * Silverflow (seed silverflow-authentication.txt): API key + secret as HTTP Basic, up to 40 keys
 * managed through the API itself (the secret is returned once, at creation), agent bearer tokens
 * minted from a key, permissions and CIDR restrictions. Key rotation is tested against it, so it can
 * be told to fail before or after committing each operation.
 */
export class SilverflowSandbox {
  readonly handler: SandboxHandler;
  /** Queued faults; the first one matching an operation is consumed by it. */
  readonly faults: SilverflowFault[] = [];
  /** While true every partner request has its connection destroyed (control routes still work). */
  down = false;
  readonly requests: Record<RouteName | "unauthorized" | "forbidden", number> = {
    create: 0,
    list: 0,
    get: 0,
    patch: 0,
    delete: 0,
    bearer: 0,
    charges: 0,
    unauthorized: 0,
    forbidden: 0,
  };

  readonly #keys = new Map<string, StoredKey>();
  #seq = 0;
  readonly #maxKeys: number;
  readonly #propagationDelayMs: number;
  readonly #now: () => number;
  /** HS256: the sandbox is the only party that verifies its bearer tokens. */
  readonly #bearerKey = new Uint8Array(randomBytes(32));
  /** Carried in every bearer token; revokeBearerTokens() bumps it so older tokens stop working. */
  #bearerGeneration = 0;

  constructor(options: SilverflowSandboxOptions = {}) {
    this.#maxKeys = options.maxKeys ?? SILVERFLOW.maxKeys;
    this.#propagationDelayMs = options.propagationDelayMs ?? 0;
    this.#now = options.now ?? Date.now;
    const now = this.#now();
    for (const initial of options.initialKeys ?? []) {
      // Initial keys come from the agent activation: usable at once.
      this.#keys.set(initial.key, {
        key: initial.key,
        secret: initial.secret,
        name: initial.name ?? "",
        description: initial.description ?? "",
        permissions: [...initial.permissions],
        ipRestrictions: [...(initial.ipRestrictions ?? [])],
        createdAt: now,
        activeAt: now,
        seq: ++this.#seq,
      });
    }
    this.handler = (req, res, body, url) => this.#handle(req, res, body, url);
  }

  /** Every key with its secret, in creation order. */
  keys(): SilverflowKeyRecord[] {
    return [...this.#keys.values()].map((k) => ({
      key: k.key,
      secret: k.secret,
      name: k.name,
      description: k.description,
      permissions: [...k.permissions],
      ipRestrictions: [...k.ipRestrictions],
      createdAt: new Date(k.createdAt).toISOString(),
      activeAt: new Date(k.activeAt).toISOString(),
    }));
  }

  /** Creates a key as the API would (limit and propagation delay apply); for test set-up. */
  createKey(fields: z.input<typeof KeyFieldsSchema> = {}): SilverflowKeyRecord {
    const parsed = KeyFieldsSchema.parse(fields);
    if (this.#keys.size >= this.#maxKeys) throw new Error("API key limit reached");
    const key = this.#insert(parsed);
    return this.keys().find((k) => k.key === key.key)!;
  }

  deleteKey(key: string): boolean {
    return this.#keys.delete(key);
  }

  /** Bearer tokens minted before now stop working (keys are unaffected). */
  revokeBearerTokens(): void {
    this.#bearerGeneration++;
  }

  /**
   * Who `Authorization` authenticates as, or undefined (unknown, wrong secret, deleted, not yet
   * propagated, expired, or outside the key's CIDR ranges).
   */
  async authenticate(header: string | undefined, remoteAddress = "127.0.0.1"): Promise<SilverflowPrincipal | undefined> {
    const basic = parseBasic(header);
    if (basic) {
      const stored = this.#keys.get(basic.user);
      if (!stored || !safeEqual(basic.password, stored.secret)) return undefined;
      if (this.#now() < stored.activeAt) return undefined;
      if (stored.ipRestrictions.length > 0 && !addressInRanges(remoteAddress, stored.ipRestrictions)) return undefined;
      return { kind: "api-key", key: stored.key, permissions: [...stored.permissions] };
    }
    const token = parseBearer(header);
    if (token === undefined) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.#bearerKey, {
        algorithms: ["HS256"],
        issuer: BEARER_ISSUER,
        audience: BEARER_AUDIENCE,
        currentDate: new Date(this.#now()),
        requiredClaims: ["exp", "iat", "jti"],
      });
      const claims = BearerClaimsSchema.parse(payload);
      if (claims.gen !== this.#bearerGeneration) return undefined;
      if (claims.ipr.length > 0 && !addressInRanges(remoteAddress, claims.ipr)) return undefined;
      return { kind: "bearer", key: claims.sub, permissions: claims.permissions };
    } catch {
      return undefined;
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL): Promise<boolean> {
    const path = url.pathname;
    if (path !== "/silverflow" && !path.startsWith("/silverflow/")) return false;
    if (path === "/silverflow/_sandbox/faults") return this.#control(req, res, body);
    if (this.down) {
      res.socket?.destroy();
      return true;
    }
    const route = this.#route(req.method ?? "GET", path, url);
    if (route === undefined) return problem(res, 404, "Not Found");
    if (route === "method") return problem(res, 405, "Method Not Allowed");
    this.requests[route.name]++;

    const authFault = this.#take("auth");
    if (authFault) return this.#failWithoutCommit(authFault, res);
    const principal = await this.authenticate(singleHeader(req.headers.authorization), req.socket.remoteAddress);
    if (!principal || (route.basicOnly && principal.kind !== "api-key")) {
      this.requests.unauthorized++;
      return problem(res, 401, "Authentication Required", undefined, { "www-authenticate": 'Basic realm="Silverflow API", Bearer' });
    }
    if (!hasPermission(principal.permissions, route.permission)) {
      this.requests.forbidden++;
      return problem(res, 403, "Forbidden", `The credentials used lack the permission ${route.permission}.`);
    }
    const parsedBody = parseJsonBody(body);
    if (parsedBody === INVALID_JSON) return problem(res, 400, "Bad Request", "The request body is not valid JSON.");

    const fault = this.#take(route.op);
    if (fault && (fault.kind === "error" || fault.kind === "rate-limit")) return this.#failWithoutCommit(fault, res);
    const reply = await route.run(principal, parsedBody);
    if (fault?.kind === "commit-then-error") return problem(res, 500, "Internal Server Error");
    if (fault?.kind === "commit-then-hang") return hang(res, fault.hangMs);
    return send(res, reply);
  }

  #route(method: string, path: string, url: URL): Route | "method" | undefined {
    if (path === "/silverflow/api-keys") {
      if (method === "POST") return { name: "create", op: "create", permission: "apiKeys:All", basicOnly: false, run: (_p, b) => this.#create(b) };
      if (method === "GET") return { name: "list", op: "list", permission: "apiKeys:All", basicOnly: false, run: () => this.#list(url.searchParams) };
      return "method";
    }
    const keyMatch = /^\/silverflow\/api-keys\/([^/]+)$/.exec(path);
    if (keyMatch?.[1]) {
      const id = decodeURIComponent(keyMatch[1]);
      if (method === "GET") return { name: "get", op: "list", permission: "apiKeys:All", basicOnly: false, run: () => this.#get(id) };
      if (method === "PATCH") return { name: "patch", op: "patch", permission: "apiKeys:All", basicOnly: false, run: (_p, b) => this.#patch(id, b) };
      if (method === "DELETE") return { name: "delete", op: "delete", permission: "apiKeys:All", basicOnly: false, run: () => this.#delete(id) };
      return "method";
    }
    if (path === "/silverflow/bearer-tokens") {
      if (method === "POST") return { name: "bearer", op: "bearer", permission: "bearerTokens:Create", basicOnly: true, run: (p, b) => this.#mint(p, b) };
      return "method";
    }
    if (path === "/silverflow/charges") {
      if (method === "GET") return { name: "charges", op: "charges", permission: "charges:List", basicOnly: false, run: () => ({ status: 200, body: { items: [] } }) };
      return "method";
    }
    return undefined;
  }

  #create(body: unknown): Reply {
    const parsed = KeyFieldsSchema.safeParse(body ?? {});
    if (!parsed.success) return badRequest(parsed.error);
    if (this.#keys.size >= this.#maxKeys) {
      return { status: 409, body: { title: "API key limit reached", status: 409, detail: `At most ${this.#maxKeys} API keys can exist.` }, headers: PROBLEM };
    }
    const stored = this.#insert(parsed.data);
    // The only response that ever carries the secret.
    return { status: 201, body: { ...view(stored), secret: stored.secret } };
  }

  /** One page, oldest first; `offsetToken` is present only when more keys follow. */
  #list(query: URLSearchParams): Reply {
    const limitText = query.get("limit");
    const limit = limitText === null ? DEFAULT_PAGE_SIZE : /^\d{1,3}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= MAX_PAGE_SIZE)) {
      return { status: 400, body: { title: "Bad Request", status: 400, detail: `limit: must be an integer from 1 to ${MAX_PAGE_SIZE}` }, headers: PROBLEM };
    }
    const token = query.get("offsetToken");
    const after = token === null ? 0 : parseOffsetToken(token);
    if (after === undefined) return { status: 400, body: { title: "Bad Request", status: 400, detail: "offsetToken: not a token this API issued" }, headers: PROBLEM };
    // Sorted by creation; a token points after a position, so deletes between pages skip nothing.
    const rest = [...this.#keys.values()].sort((a, b) => a.seq - b.seq).filter((k) => k.seq > after);
    const page = rest.slice(0, limit);
    const last = page.at(-1);
    return {
      status: 200,
      body: { items: page.map(view), ...(rest.length > limit && last ? { offsetToken: offsetToken(last.seq) } : {}) },
    };
  }

  #get(id: string): Reply {
    const stored = this.#keys.get(id);
    return stored ? { status: 200, body: view(stored) } : notFound();
  }

  #patch(id: string, body: unknown): Reply {
    const parsed = KeyFieldsSchema.safeParse(body ?? {});
    if (!parsed.success) return badRequest(parsed.error);
    const stored = this.#keys.get(id);
    if (!stored) return notFound();
    const fields = parsed.data;
    if (fields.name !== undefined) stored.name = fields.name;
    if (fields.description !== undefined) stored.description = fields.description;
    if (fields.permissions !== undefined) stored.permissions = [...fields.permissions];
    if (fields.ipRestrictions !== undefined) stored.ipRestrictions = [...fields.ipRestrictions];
    return { status: 200, body: view(stored) };
  }

  #delete(id: string): Reply {
    return this.#keys.delete(id) ? { status: 204 } : notFound();
  }

  async #mint(principal: SilverflowPrincipal, body: unknown): Promise<Reply> {
    const parsed = BearerRequestSchema.safeParse(body ?? {});
    if (!parsed.success) return badRequest(parsed.error);
    const requested = parsed.data.permissions ?? principal.permissions;
    const missing = requested.find((p) => !hasPermission(principal.permissions, p));
    if (missing !== undefined) {
      return { status: 403, body: { title: "Forbidden", status: 403, detail: `The API key cannot grant the permission ${missing}.` }, headers: PROBLEM };
    }
    const stored = this.#keys.get(principal.key);
    const ipRestrictions = parsed.data.ipRestrictions ?? stored?.ipRestrictions ?? [];
    const iat = Math.floor(this.#now() / 1000);
    const exp = iat + (parsed.data.ttlSec ?? 900);
    const token = await new SignJWT({ permissions: requested, ipr: ipRestrictions, gen: this.#bearerGeneration })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(BEARER_ISSUER)
      .setAudience(BEARER_AUDIENCE)
      .setSubject(principal.key)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.#bearerKey);
    return { status: 201, body: { token, expiresAt: new Date(exp * 1000).toISOString(), permissions: requested } };
  }

  #insert(fields: z.infer<typeof KeyFieldsSchema>): StoredKey {
    let key: string;
    do key = newSilverflowKeyId();
    while (this.#keys.has(key));
    const now = this.#now();
    const stored: StoredKey = {
      key,
      secret: newSilverflowSecret(),
      name: fields.name ?? "",
      description: fields.description ?? "",
      permissions: [...(fields.permissions ?? [])],
      ipRestrictions: [...(fields.ipRestrictions ?? [])],
      createdAt: now,
      activeAt: now + this.#propagationDelayMs,
      seq: ++this.#seq,
    };
    this.#keys.set(key, stored);
    return stored;
  }

  #take(op: SilverflowOp): SilverflowFault | undefined {
    const index = this.faults.findIndex((f) => f.op === op);
    return index < 0 ? undefined : this.faults.splice(index, 1)[0];
  }

  #failWithoutCommit(fault: SilverflowFault, res: ServerResponse): true {
    if (fault.kind === "rate-limit") return problem(res, 429, "Too Many Requests", undefined, { "retry-after": "1" });
    if (fault.kind === "commit-then-hang") return hang(res, fault.hangMs);
    return problem(res, 500, "Internal Server Error");
  }

  /** Lets another process (the local demo, an end-to-end test) queue faults or take the partner down. */
  #control(req: IncomingMessage, res: ServerResponse, body: Buffer): true {
    if (req.method === "GET") return sendJson(res, 200, { faults: this.faults, down: this.down });
    if (req.method !== "POST") return problem(res, 405, "Method Not Allowed");
    const json = parseJsonBody(body);
    const parsed = ControlSchema.safeParse(json === INVALID_JSON ? undefined : json);
    if (!parsed.success) return send(res, badRequest(parsed.error));
    const control = parsed.data;
    if ("op" in control) this.faults.push(control);
    else {
      if (control.clear) this.faults.length = 0;
      this.faults.push(...(control.faults ?? []));
      if (control.down !== undefined) this.down = control.down;
    }
    return sendJson(res, 200, { queued: this.faults.length, down: this.down });
  }
}

/** Silverflow's key shape: "apk-" and 20 letters or digits. */
export function newSilverflowKeyId(): string {
  return `apk-${randomAlphanumeric(20)}`;
}

/** Silverflow's secret shape: 32 letters or digits. */
export function newSilverflowSecret(): string {
  return randomAlphanumeric(32);
}

function offsetToken(seq: number): string {
  return Buffer.from(`after:${seq}`, "utf8").toString("base64url");
}

function parseOffsetToken(token: string): number | undefined {
  const match = /^after:(\d{1,15})$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function view(k: StoredKey): Omit<SilverflowKeyRecord, "secret" | "activeAt"> {
  return {
    key: k.key,
    name: k.name,
    description: k.description,
    permissions: [...k.permissions],
    ipRestrictions: [...k.ipRestrictions],
    createdAt: new Date(k.createdAt).toISOString(),
  };
}

/** `resource:All` grants every action on the resource (e.g. reports:All in the docs). */
function hasPermission(granted: readonly string[], needed: string): boolean {
  const resource = needed.split(":")[0];
  return granted.includes(needed) || granted.includes(`${resource}:All`);
}

const INVALID_JSON = Symbol("invalid-json");

function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    return INVALID_JSON;
  }
}

function badRequest(error: z.ZodError): Reply {
  const detail = error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
  return { status: 400, body: { title: "Bad Request", status: 400, detail }, headers: PROBLEM };
}

function notFound(): Reply {
  return { status: 404, body: { title: "Not Found", status: 404, detail: "No such API key." }, headers: PROBLEM };
}

function problem(res: ServerResponse, status: number, title: string, detail?: string, headers: Record<string, string> = {}): true {
  return sendJson(res, status, detail === undefined ? { title, status } : { title, status, detail }, { ...PROBLEM, ...headers });
}

function send(res: ServerResponse, reply: Reply): true {
  if (reply.body === undefined) {
    res.writeHead(reply.status, { "cache-control": "no-store", ...reply.headers });
    res.end();
    return true;
  }
  return sendJson(res, reply.status, reply.body, reply.headers);
}

/** Never answers; with hangMs the connection is dropped after that long (unref'd: tests still exit). */
function hang(res: ServerResponse, hangMs: number | undefined): true {
  if (hangMs !== undefined) setTimeout(() => res.socket?.destroy(), hangMs).unref();
  return true;
}
