import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { safeEqual, singleHeader } from "./credentials.js";
import { nextFault, type HttpFault } from "./faults.js";
import { randomAlphanumeric } from "./random.js";
import { sendJson, type SandboxHandler } from "./route.js";

export interface PhixflowSandboxOptions {
  /** Keys valid from the start; one is generated when none is given. */
  initialKeys?: string[];
}

/**
 * PhixFlow (seed phixflow-api-authentication.txt): a user generates an API key in the console and
 * callers pass it raw as `Authorization: <key>`, no scheme. Rotation is an operator's job: generate
 * a new key, update the secret, revoke the old key later; several keys are valid meanwhile.
 *
 * Routes: GET /phixflow/api/1/ping, POST /phixflow/api/1/action/run; control routes
 * POST /phixflow/_sandbox/keys (generate a key, returned once) and DELETE /phixflow/_sandbox/keys
 * with {"key"} (revoke), for the operator-rotation demo from another process.
 */
export class PhixflowSandbox {
  readonly handler: SandboxHandler;
  readonly faults: HttpFault[] = [];
  readonly requests = { ping: 0, run: 0, rejected: 0 };

  readonly #keys = new Set<string>();

  constructor(options: PhixflowSandboxOptions = {}) {
    const initial = options.initialKeys ?? [];
    if (initial.length === 0) this.addKey();
    for (const key of initial) this.addKey(key);
    this.handler = (req, res, body, url) => this.#handle(req, res, body, url);
  }

  /** "Generate API Key" in the console: returns the new key (the old ones stay valid). */
  addKey(key: string = newPhixflowKey()): string {
    this.#keys.add(key);
    return key;
  }

  revokeKey(key: string): boolean {
    return this.#keys.delete(key);
  }

  keys(): string[] {
    return [...this.#keys];
  }

  async #handle(req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL): Promise<boolean> {
    const path = url.pathname;
    if (path === "/phixflow/_sandbox/keys") return this.#control(req, res, body);
    if (path === "/phixflow/api/1/ping") {
      if (req.method !== "GET") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "GET" });
      this.requests.ping++;
      if (await nextFault(this.faults, res)) return true;
      if (!this.#authorized(req)) return this.#reject(res);
      return sendJson(res, 200, { status: "ok" });
    }
    if (path === "/phixflow/api/1/action/run") {
      if (req.method !== "POST") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "POST" });
      this.requests.run++;
      if (await nextFault(this.faults, res)) return true;
      if (!this.#authorized(req)) return this.#reject(res);
      return sendJson(res, 200, { status: "ok", runId: randomUUID() });
    }
    return false;
  }

  /** The raw key is the whole header value: "Bearer <key>" or "ApiKey <key>" is not accepted. */
  #authorized(req: IncomingMessage): boolean {
    const value = singleHeader(req.headers.authorization);
    if (value === undefined || value === "") return false;
    for (const key of this.#keys) if (safeEqual(value, key)) return true;
    return false;
  }

  #reject(res: ServerResponse): true {
    this.requests.rejected++;
    return sendJson(res, 401, { error: "unauthorized", reason: "missing or invalid API key in Authorization" });
  }

  #control(req: IncomingMessage, res: ServerResponse, body: Buffer): true {
    if (req.method === "POST") return sendJson(res, 201, { key: this.addKey() });
    if (req.method === "DELETE") {
      const parsed = RevokeSchema.safeParse(parseJson(body));
      if (!parsed.success) return sendJson(res, 400, { error: "bad_request", reason: 'expected {"key": "<key>"}' });
      return this.revokeKey(parsed.data.key) ? sendJson(res, 200, { revoked: true }) : sendJson(res, 404, { error: "not_found" });
    }
    return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "POST, DELETE" });
  }
}

const RevokeSchema = z.object({ key: z.string().min(1) });

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}

/** Shaped like a console-generated key: long, letters and digits. */
export function newPhixflowKey(): string {
  return `pfx_${randomAlphanumeric(40)}`;
}
