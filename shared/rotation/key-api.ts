import { z } from "zod";
import type { Clock, Random, Sleeper } from "../clock.js";
import type { KeyApiSpec } from "../config/rotation-schema.js";
import type { UpstreamPolicy } from "../config/provider-base-schema.js";
import { BrokerError } from "../errors/broker-error.js";
import { ConflictError } from "../errors/conflict-error.js";
import { discardBody, readBodyText } from "../http/bounded-body.js";
import type { FetchLike } from "../http/fetch-like.js";
import type { Logger } from "../log/logger.js";
import { UpstreamCaller } from "../upstream/upstream-caller.js";
import { UpstreamFailure, parseRetryAfter } from "../upstream/upstream-failure.js";
import { readPath } from "../json/read-path.js";

/** A partner API key as Basic credentials (RFC 7617: id is the user, secret the password). */
export interface KeyCredential {
  id: string;
  secret: string;
}

/** A key as listed by the partner: never with a secret. */
export interface PartnerKey {
  id: string;
  name: string | undefined;
  /** The raw listed fields, to copy e.g. permissions and CIDRs to the successor. */
  fields: Record<string, unknown>;
}

export type VerifyOutcome = "valid" | "rejected";

/** The partner refused a create because the account holds its maximum number of keys. */
export class KeyLimitReachedError extends ConflictError {
  constructor(provider: string) {
    super("key_limit_reached", `The partner's API key limit for "${provider}" is reached; delete unused keys at the partner.`);
  }
}

export interface KeyApiDeps {
  fetch: FetchLike;
  clock: Clock;
  sleeper: Sleeper;
  random: Random;
  logger: Logger;
}

interface Answer {
  status: number;
  json: unknown;
}

const ItemsSchema = z.array(z.record(z.string(), z.unknown()));
const NonEmpty = z.string().min(1);

/**
 * The partner's key management API, described declaratively (config/rotation-schema.ts). Reads and
 * deletes are idempotent and retried by the upstream policy; a create is sent exactly once, because
 * a retried create whose first attempt did commit would leave a second key behind.
 */
export class PartnerKeyApi {
  private readonly idempotent: UpstreamCaller;
  private readonly once: UpstreamCaller;

  constructor(
    private readonly provider: string,
    private readonly spec: KeyApiSpec,
    private readonly policy: UpstreamPolicy,
    private readonly deps: KeyApiDeps,
  ) {
    this.idempotent = new UpstreamCaller(provider, policy, deps);
    this.once = new UpstreamCaller(provider, { ...policy, maxAttempts: 1 }, deps);
  }

  /**
   * Broker-created keys carry this name, so they can be told apart from keys others made. The
   * deployment's prefix (rotation.keyNamePrefix) keeps deployments sharing a partner account apart;
   * the ":" after it (which a prefix cannot contain) stops "prod" from matching "prod-eu" keys.
   */
  static markerPrefix(keyNamePrefix: string, provider: string): string {
    return `${keyNamePrefix}:${provider}:`;
  }

  /**
   * Every key at the partner, following continuation tokens when the spec pages. All or nothing:
   * rotation counts and sweeps from this list, so a truncated one must never pass for complete.
   */
  async list(auth: KeyCredential): Promise<PartnerKey[]> {
    const { method, path, pagination } = this.spec.list;
    // A partner that keeps handing out tokens must not keep the run (and its lease) forever.
    const maxPages = pagination ? Math.ceil(this.spec.maxKeys / (pagination.pageSize ?? 1)) + 2 : 1;
    const keys: PartnerKey[] = [];
    const ids = new Set<string>();
    const tokens = new Set<string>();
    let token: string | undefined;
    for (let page = 1; ; page++) {
      const answer = await this.call(this.idempotent, method, pagePath(path, pagination, token), auth, undefined, true);
      if (answer.status !== 200) throw this.rejected("list", answer.status);
      for (const key of this.parsePage(answer.json)) {
        // Pages that shifted under us may also have skipped a key.
        if (ids.has(key.id)) throw this.unusable("list");
        ids.add(key.id);
        keys.push(key);
      }
      if (!pagination) return keys;
      const next = readPath(answer.json, pagination.tokenField);
      if (next === undefined || next === null) return keys;
      if (typeof next !== "string" || next === "" || tokens.has(next)) throw this.unusable("list");
      if (page >= maxPages) {
        throw new BrokerError("upstream_rejected", `Partner key API of "${this.provider}" listed more than ${maxPages} pages of keys; the list is not used.`);
      }
      tokens.add(next);
      token = next;
    }
  }

  private parsePage(json: unknown): PartnerKey[] {
    const items = ItemsSchema.safeParse(readPath(json, this.spec.list.itemsField));
    if (!items.success) throw this.unusable("list");
    return items.data.map((item) => {
      const id = NonEmpty.safeParse(item[this.spec.fields.id]);
      // A key we cannot identify could be anyone's: refuse the whole list rather than guess.
      if (!id.success) throw this.unusable("list");
      const name = item[this.spec.fields.name];
      return { id: id.data, name: typeof name === "string" ? name : undefined, fields: item };
    });
  }

  /** Creates a key; its secret is in the answer only. Any error means "outcome unknown". */
  async create(auth: KeyCredential, fields: Record<string, unknown>): Promise<KeyCredential> {
    const { method, path, body } = this.spec.create;
    const answer = await this.call(this.once, method, path, auth, { ...body, ...fields }, true);
    if (answer.status === 409) throw new KeyLimitReachedError(this.provider);
    if (answer.status !== 200 && answer.status !== 201) throw this.rejected("create", answer.status);
    const record = z.record(z.string(), z.unknown()).safeParse(answer.json);
    const id = NonEmpty.safeParse(record.success ? record.data[this.spec.fields.id] : undefined);
    const secret = NonEmpty.safeParse(record.success ? record.data[this.spec.fields.secret] : undefined);
    if (!id.success || !secret.success) throw this.unusable("create");
    return { id: id.data, secret: secret.data };
  }

  /** Deletes a key; an already absent key counts as deleted (deletes are replayed after crashes). */
  async delete(auth: KeyCredential, id: string): Promise<"deleted" | "absent"> {
    const { method, path } = this.spec.delete;
    const answer = await this.call(this.idempotent, method, path.replaceAll("{id}", encodeURIComponent(id)), auth, undefined, false);
    if (answer.status === 404 || answer.status === 410) return "absent";
    if (answer.status >= 200 && answer.status < 300) return "deleted";
    throw this.rejected("delete", answer.status);
  }

  /** One verification call made WITH the given key. Transient partner errors throw. */
  async verify(key: KeyCredential): Promise<VerifyOutcome> {
    const { method, path, expectStatus } = this.spec.verify;
    const answer = await this.call(this.idempotent, method, path, key, undefined, false);
    return expectStatus.includes(answer.status) ? "valid" : "rejected";
  }

  private async call(
    caller: UpstreamCaller,
    method: string,
    path: string,
    auth: KeyCredential,
    body: Record<string, unknown> | undefined,
    readJson: boolean,
  ): Promise<Answer> {
    const url = this.spec.baseUrl.replace(/\/+$/, "") + path;
    const headers: Record<string, string> = { authorization: basicHeader(auth), accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    return caller.run(async (signal) => {
      const response = await this.deps.fetch(url, {
        method,
        headers,
        signal,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const maxBytes = this.policy.maxResponseBytes;
      if (response.status === 429 || response.status >= 500) {
        await discardBody(response, maxBytes);
        const retryAfterSec = parseRetryAfter(response.headers.get("retry-after"), this.deps.clock.now());
        throw new UpstreamFailure("transient", `HTTP ${response.status}`, { status: response.status, retryAfterSec });
      }
      if (!readJson || !response.ok) {
        await discardBody(response, maxBytes);
        return { status: response.status, json: undefined };
      }
      const text = await readBodyText(response, maxBytes);
      try {
        return { status: response.status, json: JSON.parse(text) as unknown };
      } catch {
        // The body is not quoted anywhere: a create answer carries the secret.
        throw new UpstreamFailure("invalid", `HTTP ${response.status} with a body that is not JSON`, { status: response.status });
      }
    });
  }

  private rejected(operation: string, status: number): BrokerError {
    return new BrokerError("upstream_rejected", `Partner key API of "${this.provider}" refused the ${operation} (HTTP ${status}).`);
  }

  private unusable(operation: string): BrokerError {
    return new BrokerError("upstream_rejected", `Partner key API of "${this.provider}" returned an unusable ${operation} response.`);
  }
}

export function basicHeader(key: KeyCredential): string {
  return "Basic " + Buffer.from(`${key.id}:${key.secret}`, "utf8").toString("base64");
}

/** The list path with the page size and the continuation token appended as query parameters. */
function pagePath(path: string, pagination: KeyApiSpec["list"]["pagination"], token: string | undefined): string {
  if (!pagination) return path;
  const params: [string, string][] = [];
  if (pagination.limitParam !== undefined && pagination.pageSize !== undefined) params.push([pagination.limitParam, String(pagination.pageSize)]);
  if (token !== undefined) params.push([pagination.tokenParam, token]);
  if (params.length === 0) return path;
  const query = params.map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join("&");
  return path + (path.includes("?") ? "&" : "?") + query;
}

