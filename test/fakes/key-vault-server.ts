import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { DevTls } from "../../dev/tls.js";

/**
 * A loopback Azure Key Vault (secrets only) speaking the REST protocol the real `SecretClient`
 * uses: the bearer challenge, latest/versioned GET, PUT, and paged version listing in no
 * particular order. Faults are queued and consumed by authorised requests only, so the SDK's
 * unauthenticated challenge request never eats one.
 */
export type KeyVaultRoute = "challenge" | "unauthorized" | "get" | "set" | "versions" | "bad_request";

export type KeyVaultFault = { route?: "get" | "set" | "versions" } & (
  | { status: number; headers?: Record<string, string>; body?: unknown }
  | { delayMs: number }
  | { destroy: true }
);

export interface StoredSecret {
  name: string;
  version: string;
  value: string;
  tags: Record<string, string> | undefined;
  contentType: string | undefined;
  /** Epoch ms, whole seconds (Key Vault's `created` has one-second resolution). */
  createdOn: number;
  enabled: boolean;
}

export interface KeyVaultServerOptions {
  tls: DevTls;
  /** Which bearer tokens the vault accepts (e.g. those issued by the managed identity fake). */
  acceptToken: (token: string) => boolean;
  tenantId?: string;
  /** The resource named in the challenge; the SDK asks the credential for `<resource>/.default`. */
  resource?: string;
  /** Default (and maximum) page size of version listings; Key Vault's is 25. */
  pageSize?: number;
  /** Clock for `created` of new versions. */
  now?: () => number;
}

const NAME = /^[0-9A-Za-z-]{1,127}$/;
const VERSION = /^[0-9a-f]{32}$/;

export class KeyVaultServer {
  readonly requests = new Map<KeyVaultRoute, number>();
  readonly faults: KeyVaultFault[] = [];
  /** Every request line with whether it carried an accepted token (never bodies). */
  readonly log: { method: string; path: string; authorized: boolean }[] = [];
  private readonly secrets = new Map<string, StoredSecret[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly tenantId: string;
  private readonly resource: string;
  private readonly pageSize: number;
  private readonly now: () => number;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: KeyVaultServerOptions,
  ) {
    this.tenantId = options.tenantId ?? "72f988bf-86f1-41af-91ab-2d7cd011db47";
    this.resource = options.resource ?? "https://vault.azure.net";
    this.pageSize = options.pageSize ?? 25;
    this.now = options.now ?? (() => Date.now());
  }

  static async start(options: KeyVaultServerOptions): Promise<KeyVaultServer> {
    let vault: KeyVaultServer | undefined;
    const server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => vault!.handle(req, res, Buffer.concat(chunks)));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    vault = new KeyVaultServer(server, `https://127.0.0.1:${port}`, options);
    return vault;
  }

  count(route: KeyVaultRoute): number {
    return this.requests.get(route) ?? 0;
  }

  inject(...faults: KeyVaultFault[]): void {
    this.faults.push(...faults);
  }

  /** Adds a version directly (no HTTP); returns its version id. */
  seed(name: string, value: string, options: { tags?: Record<string, string>; createdOn?: number; enabled?: boolean; contentType?: string } = {}): string {
    return this.store(name, value, options.tags, options.contentType, options.createdOn ?? this.now(), options.enabled ?? true).version;
  }

  /** Stored versions of a secret, in creation order (for assertions). */
  versions(name: string): StoredSecret[] {
    return [...(this.secrets.get(name.toLowerCase()) ?? [])];
  }

  latestValue(name: string): string | undefined {
    return this.secrets.get(name.toLowerCase())?.at(-1)?.value;
  }

  close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private bump(route: KeyVaultRoute): void {
    this.requests.set(route, this.count(route) + 1);
  }

  private handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const url = new URL(req.url ?? "/", this.url);
    const method = req.method ?? "GET";
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const authorized = token !== undefined && this.options.acceptToken(token);
    this.log.push({ method, path: url.pathname, authorized });

    if (req.headers.authorization === undefined) {
      this.bump("challenge");
      return void this.challenge(res);
    }
    if (!authorized) {
      this.bump("unauthorized");
      return void this.challenge(res, 'error="invalid_token"');
    }
    if (!url.searchParams.get("api-version")) {
      this.bump("bad_request");
      return void error(res, 400, "BadParameter", "The api-version query parameter is required.");
    }
    const route = routeOf(method, url.pathname);
    if (!route) {
      this.bump("bad_request");
      return void error(res, 400, "BadParameter", "Unsupported request.");
    }
    this.bump(route.kind);
    const index = this.faults.findIndex((f) => f.route === undefined || f.route === route.kind);
    const fault = index >= 0 ? this.faults.splice(index, 1)[0] : undefined;
    if (fault && "destroy" in fault) {
      req.socket.destroy();
      return;
    }
    if (fault && "status" in fault) {
      const payload = fault.body ?? { error: { code: fault.status === 429 ? "Throttled" : "ServiceUnavailable", message: "Injected fault." } };
      return void send(res, fault.status, payload, fault.headers);
    }
    const respond = () => this.route(route, url, body, res);
    if (fault && "delayMs" in fault) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!res.destroyed) respond();
      }, fault.delayMs);
      this.timers.add(timer);
      return;
    }
    respond();
  }

  private challenge(res: ServerResponse, extra?: string): void {
    const header = `Bearer authorization="https://login.microsoftonline.com/${this.tenantId}", resource="${this.resource}"${extra ? `, ${extra}` : ""}`;
    send(res, 401, { error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." } }, { "www-authenticate": header });
  }

  private route(route: Route, url: URL, body: Buffer, res: ServerResponse): void {
    if (route.kind === "set") {
      let parsed: { value?: unknown; tags?: unknown; contentType?: unknown; attributes?: { enabled?: unknown } } | undefined;
      try {
        parsed = JSON.parse(body.toString("utf8")) as typeof parsed;
      } catch {
        parsed = undefined;
      }
      if (!parsed || typeof parsed.value !== "string" || !validTags(parsed.tags)) {
        return void error(res, 400, "BadParameter", "The request body is not a valid secret.");
      }
      const enabled = typeof parsed.attributes?.enabled === "boolean" ? parsed.attributes.enabled : true;
      const contentType = typeof parsed.contentType === "string" ? parsed.contentType : undefined;
      const stored = this.store(route.name, parsed.value, parsed.tags, contentType, this.now(), enabled);
      return void send(res, 200, this.bundle(stored, true));
    }
    const list = this.secrets.get(route.name.toLowerCase());
    if (route.kind === "get") {
      const found = route.version ? list?.find((s) => s.version === route.version) : list?.at(-1);
      if (!found) return void notFound(res, route.name, route.version);
      if (!found.enabled) return void error(res, 403, "Forbidden", "Operation get is not allowed on a disabled secret.");
      return void send(res, 200, this.bundle(found, true));
    }
    // Key Vault lists versions in no useful order: order them by a hash of the version id, which
    // is stable across pages but unrelated to creation time.
    const all = [...(list ?? [])].sort((a, b) => (hash(a.version) < hash(b.version) ? -1 : 1));
    const max = Math.min(this.pageSize, Number(url.searchParams.get("maxresults") ?? this.pageSize) || this.pageSize);
    const skip = Number(url.searchParams.get("$skiptoken") ?? 0) || 0;
    const page = all.slice(skip, skip + max);
    const next = skip + max < all.length ? skip + max : undefined;
    const nextLink =
      next === undefined
        ? null
        : `${this.url}/secrets/${encodeURIComponent(route.name)}/versions?api-version=${url.searchParams.get("api-version")}&$skiptoken=${next}&maxresults=${max}`;
    send(res, 200, { value: page.map((s) => this.bundle(s, false)), nextLink });
  }

  private store(
    name: string,
    value: string,
    tags: Record<string, string> | undefined,
    contentType: string | undefined,
    createdOn: number,
    enabled: boolean,
  ): StoredSecret {
    const key = name.toLowerCase();
    const list = this.secrets.get(key) ?? [];
    const stored: StoredSecret = {
      name: list[0]?.name ?? name,
      version: randomBytes(16).toString("hex"),
      value,
      tags: tags && Object.keys(tags).length ? { ...tags } : undefined,
      contentType,
      createdOn: Math.floor(createdOn / 1000) * 1000,
      enabled,
    };
    list.push(stored);
    this.secrets.set(key, list);
    return stored;
  }

  private bundle(s: StoredSecret, withValue: boolean): Record<string, unknown> {
    const seconds = s.createdOn / 1000;
    return {
      ...(withValue ? { value: s.value } : {}),
      id: `${this.url}/secrets/${s.name}/${s.version}`,
      ...(s.contentType ? { contentType: s.contentType } : {}),
      attributes: { enabled: s.enabled, created: seconds, updated: seconds, recoveryLevel: "Recoverable+Purgeable", recoverableDays: 90 },
      ...(s.tags ? { tags: s.tags } : {}),
    };
  }
}

type Route = { kind: "get"; name: string; version: string | undefined } | { kind: "set"; name: string } | { kind: "versions"; name: string };

function routeOf(method: string, path: string): Route | undefined {
  const m = /^\/secrets\/([^/]+)(?:\/([^/]*))?$/.exec(path);
  if (!m) return undefined;
  const name = decodeURIComponent(m[1]!);
  const rest = m[2];
  if (!NAME.test(name)) return undefined;
  if (method === "PUT" && rest === undefined) return { kind: "set", name };
  if (method !== "GET") return undefined;
  if (rest === "versions") return { kind: "versions", name };
  if (rest === undefined || rest === "") return { kind: "get", name, version: undefined };
  return VERSION.test(rest) ? { kind: "get", name, version: rest } : undefined;
}

function validTags(tags: unknown): tags is Record<string, string> | undefined {
  if (tags === undefined || tags === null) return true;
  if (typeof tags !== "object" || Array.isArray(tags)) return false;
  const entries = Object.entries(tags);
  return entries.length <= 15 && entries.every(([, v]) => typeof v === "string");
}

function hash(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

function notFound(res: ServerResponse, name: string, version: string | undefined): void {
  const id = version ? `${name}/${version}` : name;
  error(res, 404, "SecretNotFound", `A secret with (name/id) ${id} was not found in this key vault.`);
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "x-ms-keyvault-service-version": "1.9.0.0", ...headers });
  res.end(text);
}
