import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import type { Clock, Sleeper } from "../clock.js";
import type { FetchLike } from "../http/fetch-like.js";
import { errorFields, type Logger } from "../log/logger.js";
import { readBodyText } from "../http/bounded-body.js";
import { UpstreamFailure } from "../upstream/upstream-failure.js";
import { BrokerError } from "../errors/broker-error.js";
import { SingleFlight } from "../single-flight.js";

export interface IssuerKeysOptions {
  /** Key of the issuer in the configuration, for logs. */
  issuer: string;
  jwksUri: string;
  clock: Clock;
  sleeper: Sleeper;
  fetch: FetchLike;
  logger: Logger;
  /** Keys older than this are re-fetched in the background while still being used. */
  refreshAfterMs: number;
  /** No two fetches start closer together than this (per issuer), whatever the outcome. */
  cooldownMs: number;
  /** The last good key set is used while fetches fail, until it is this old. */
  maxStaleMs: number;
  /** Timeout of one fetch. */
  timeoutMs: number;
  /** Repeated fetch failures are written as one warn line per interval, with a count. */
  warnIntervalMs?: number;
}

/** Thrown when no key set usable for verification exists (the token is not at fault). */
export class JwksUnavailableError extends BrokerError<"jwks_unavailable"> {
  override readonly name = "JwksUnavailableError";
  constructor(message: string) {
    super("jwks_unavailable", message);
    this.message = message;
  }
}

/** A JWKS of an identity provider is a few KB; Entra's is ~10 KB. */
const MAX_JWKS_BYTES = 256 * 1024;
const DEFAULT_WARN_INTERVAL_MS = 60_000;
const KEY_SET = "jwks";

interface KeySet {
  readonly getKey: JWTVerifyGetKey;
  readonly fetchedAt: number;
}

/**
 * The signing keys of one caller-token issuer. Replaces jose's `createRemoteJWKSet` (which reads
 * the real clock, fetches on every unknown `kid` after a 30 s cool-down and forgets its keys when a
 * fetch fails) with a key set that outlives an issuer outage:
 * - the last good set is used while fetches fail, for at most `maxStaleMs` after it was fetched;
 * - past `refreshAfterMs` the set is re-fetched in the background; requests keep using it;
 * - an unknown `kid` triggers a fetch (a key published since the last one), but fetches start at
 *   most once per `cooldownMs`, success or failure, so a flood of forged `kid`s costs the issuer one
 *   request per cool-down and each of those tokens a 401;
 * - failures are logged once per interval with how many there were.
 * jose still selects and verifies the key (`createLocalJWKSet`).
 */
export class IssuerKeys {
  private keys: KeySet | undefined;
  /** The one fetch of this issuer's key set (a single key: one issuer, one set). */
  private readonly fetching = new SingleFlight<boolean>();
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  /** Failed fetches not yet written to the log, and when the last warn line was written. */
  private unloggedFailures = 0;
  private lastWarnAt = Number.NEGATIVE_INFINITY;
  private failingSince: number | undefined;
  /** Fetches started, for status and measurement. */
  fetches = 0;

  constructor(private readonly options: IssuerKeysOptions) {}

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const now = this.options.clock.now();
    let keys = this.usable(now);
    if (keys === undefined) {
      await this.refresh(now);
      keys = this.usable(this.options.clock.now());
      if (keys === undefined) throw new JwksUnavailableError("no usable signing keys for this issuer");
    } else if (now - keys.fetchedAt >= this.options.refreshAfterMs) {
      // Nobody awaits it: the outcome is recorded by refresh(), which never rejects.
      void this.refresh(now);
    }
    try {
      return await keys.getKey(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // Perhaps a key published since the last fetch: look once, within the cool-down.
      if (!(await this.refresh(now)) || this.keys === undefined || this.keys === keys) throw error;
      return this.keys.getKey(header, token);
    }
  };

  /** Age of the key set in use, for status; undefined before the first good fetch. */
  ageMs(): number | undefined {
    return this.keys === undefined ? undefined : this.options.clock.now() - this.keys.fetchedAt;
  }

  private usable(now: number): KeySet | undefined {
    const keys = this.keys;
    return keys !== undefined && now - keys.fetchedAt < this.options.maxStaleMs ? keys : undefined;
  }

  /** True when a new key set arrived; false when cooling down or the fetch failed. Never rejects. */
  private refresh(now: number): Promise<boolean> {
    const running = this.fetching.current(KEY_SET);
    if (running !== undefined) return running.promise;
    if (now - this.lastAttemptAt < this.options.cooldownMs) return Promise.resolve(false);
    this.lastAttemptAt = now;
    this.fetches++;
    const fetchOnce = () =>
      this.fetchKeySet().then(
        (jwks) => {
          this.keys = { getKey: createLocalJWKSet(jwks), fetchedAt: this.options.clock.now() };
          this.recovered();
          return true;
        },
        (error: unknown) => {
          this.failed(error);
          return false;
        },
      );
    return this.fetching.start(KEY_SET, fetchOnce, undefined);
  }

  private async fetchKeySet(): Promise<JSONWebKeySet> {
    const controller = new AbortController();
    const { timeoutMs } = this.options;
    const timeout = this.options.sleeper.sleep(timeoutMs, controller.signal).then(() => {
      throw new JwksFetchError(`timed out after ${timeoutMs} ms`);
    });
    try {
      return await Promise.race([this.download(controller.signal), timeout]);
    } finally {
      controller.abort(new Error("done"));
      timeout.catch(() => undefined);
    }
  }

  private async download(signal: AbortSignal): Promise<JSONWebKeySet> {
    const response = await this.options.fetch(this.options.jwksUri, { headers: { accept: "application/json" }, signal, redirect: "manual" });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new JwksFetchError(`status ${response.status}`);
    }
    const text = await readTextLimited(response, MAX_JWKS_BYTES);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new JwksFetchError("not JSON");
    }
    const keys = (parsed as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => k !== null && typeof k === "object" && !Array.isArray(k))) {
      // An empty set would revoke every key on one bad answer; keep the last good set instead.
      throw new JwksFetchError("not a non-empty JWK set");
    }
    return { keys } as JSONWebKeySet;
  }

  private failed(error: unknown): void {
    const now = this.options.clock.now();
    this.failingSince ??= now;
    this.unloggedFailures++;
    if (now - this.lastWarnAt < (this.options.warnIntervalMs ?? DEFAULT_WARN_INTERVAL_MS)) return;
    this.options.logger.log("warn", "caller_jwks_unavailable", {
      issuer: this.options.issuer,
      failures: this.unloggedFailures,
      failing_for_ms: now - this.failingSince,
      keys_age_ms: this.keys === undefined ? undefined : now - this.keys.fetchedAt,
      keys_usable: this.usable(now) !== undefined,
      ...errorFields(error),
    });
    this.lastWarnAt = now;
    this.unloggedFailures = 0;
  }

  private recovered(): void {
    if (this.failingSince === undefined) return;
    const now = this.options.clock.now();
    this.options.logger.log("info", "caller_jwks_recovered", {
      issuer: this.options.issuer,
      failing_for_ms: now - this.failingSince,
      failures_not_logged: this.unloggedFailures,
    });
    this.failingSince = undefined;
    this.unloggedFailures = 0;
    this.lastWarnAt = Number.NEGATIVE_INFINITY;
  }
}

/** A JWKS answer that cannot be used (status, size, shape, timeout); the message names no content. */
class JwksFetchError extends BrokerError<"jwks_fetch_failed"> {
  override readonly name = "JwksFetchError";
  constructor(message: string) {
    super("jwks_fetch_failed", message);
    this.message = message;
  }
}

/** The one bounded body reader (shared/http/bounded-body.ts); past the limit, a failed fetch like any other. */
async function readTextLimited(response: Response, maxBytes: number): Promise<string> {
  try {
    return await readBodyText(response, maxBytes);
  } catch (error) {
    if (error instanceof UpstreamFailure) throw new JwksFetchError(`larger than ${maxBytes} bytes`);
    throw error;
  }
}
