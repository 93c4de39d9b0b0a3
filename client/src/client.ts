import type { TokenCredential } from "@azure/core-auth";
import { brokerTokenCredential } from "./azure-credential.js";
import { callBroker, type FetchFunction } from "./broker-http.js";
import { callerAuthorization, type CallerAuth } from "./caller-auth.js";
import { parseTokenBody, type PartnerCredential } from "./credential.js";
import { TokenBrokerError } from "./errors.js";
import { abortable, isIdempotent, replayable, withHeaders } from "./partner-request.js";

/** What the optional `onEvent` callback receives: names, codes and fingerprints, never a value. */
export interface TokenBrokerEvent {
  type: "credential_fetched" | "refresh_failed" | "credential_rejected" | "rejection_report_failed";
  provider: string;
  /** Fingerprint of the credential concerned (`sha256:…`). */
  fingerprint?: string;
  /** The broker's answer to a rejection report: `replaced` or `already_replaced`. */
  outcome?: string;
  /** Problem code of a failure. */
  code?: string;
}

export interface TokenBrokerClientOptions {
  /** The broker's base URL, e.g. `https://broker.example.net` (routes are under `/api`). */
  url: string | URL;
  caller: CallerAuth;
  /** A cached credential is used until this many seconds before its expiry (default 60). */
  marginSec?: number;
  /** Fraction of a credential's usable life after which it is refreshed in the background (0.75). */
  refreshAheadFraction?: number;
  /** Per broker request (default 10 000 ms). */
  timeoutMs?: number;
  /** For requests to the broker (default: global fetch). */
  fetch?: FetchFunction;
  /** For `client.fetch` requests to partners (default: global fetch). */
  partnerFetch?: FetchFunction;
  /** Called on credential fetches, failed background refreshes and rejection reports. */
  onEvent?: (event: TokenBrokerEvent) => void;
  /** Clock (epoch ms); tests only. */
  now?: () => number;
}

export interface GetCredentialOptions {
  /** The credential must stay valid at least this long (on top of the margin). */
  minTtlSec?: number;
  signal?: AbortSignal;
}

export interface PartnerFetchInit extends RequestInit {
  /**
   * Retry a non-idempotent request (POST, PATCH) once after a 401 too. Off by default: the
   * partner may have acted on the first request before refusing… or the body cannot be re-sent.
   */
  retryNonIdempotent?: boolean;
}

export interface RejectionResult {
  provider: string;
  outcome: "replaced" | "already_replaced";
  fingerprint: string;
  expires_at: string;
}

interface Entry {
  credential: PartnerCredential;
  /** Epoch ms after which the credential is no longer handed out (expiry minus margin). */
  usableUntil: number;
  refreshAt: number;
}

interface ProviderState {
  entry?: Entry;
  flight?: { promise: Promise<PartnerCredential>; minTtlSec: number };
  /** The broker said Retry-After: no request for this provider before then. */
  blockedUntil?: number;
  blockedBy?: TokenBrokerError;
}

const PROVIDER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * The caller's side of the token broker: partner credentials cached per provider until their
 * expiry minus a margin, refreshed ahead in the background, one broker request in flight per
 * provider, `Retry-After` honoured; `fetch` with the partner headers applied and the
 * rejected-credential protocol on 401; and a `TokenCredential` for Azure SDK clients.
 */
export class TokenBrokerClient {
  private readonly base: URL;
  private readonly marginSec: number;
  private readonly fraction: number;
  private readonly timeoutMs: number;
  private readonly brokerFetch: FetchFunction;
  private readonly partnerFetch: FetchFunction;
  private readonly now: () => number;
  private readonly states = new Map<string, ProviderState>();
  private readonly reports = new Map<string, Promise<RejectionResult | undefined>>();

  constructor(private readonly options: TokenBrokerClientOptions) {
    this.base = new URL(String(options.url).replace(/\/*$/, "/"));
    if (this.base.protocol !== "https:" && this.base.protocol !== "http:") throw new TypeError("url must be an http(s) URL");
    this.marginSec = options.marginSec ?? 60;
    this.fraction = options.refreshAheadFraction ?? 0.75;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.brokerFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.partnerFetch = options.partnerFetch ?? ((input, init) => globalThis.fetch(input, init));
    this.now = options.now ?? Date.now;
  }

  async getCredential(provider: string, options: GetCredentialOptions = {}): Promise<PartnerCredential> {
    checkProvider(provider);
    const minTtlSec = Math.max(0, options.minTtlSec ?? 0);
    const state = this.state(provider);
    const now = this.now();
    const entry = state.entry;
    if (entry !== undefined && entry.usableUntil - now >= minTtlSec * 1000) {
      if (now >= entry.refreshAt && state.flight === undefined) {
        this.load(provider, state, 0).catch((error: unknown) =>
          this.emit({ type: "refresh_failed", provider, fingerprint: entry.credential.fingerprint, code: codeOf(error) }),
        );
      }
      return entry.credential;
    }
    if (state.blockedUntil !== undefined && now < state.blockedUntil && state.blockedBy !== undefined) {
      const wait = Math.ceil((state.blockedUntil - now) / 1000);
      throw new TokenBrokerError(state.blockedBy.code, state.blockedBy.message, { status: state.blockedBy.status, retryAfterSec: wait });
    }
    const joined = state.flight;
    if (joined !== undefined && joined.minTtlSec >= minTtlSec) return abortable(joined.promise, options.signal);
    if (joined !== undefined) await abortable(joined.promise, options.signal).catch(() => undefined);
    // The request is shared by every call that joins it: one caller's signal ends its own wait, not the request.
    return abortable(this.load(provider, state, minTtlSec), options.signal);
  }

  /**
   * `fetch` to a partner with the provider's headers applied. On 401 the credential is reported
   * as rejected, a fresh one obtained and the request sent once more — unless it is not
   * idempotent (and `retryNonIdempotent` was not given) or its body cannot be sent twice; then the
   * 401 is returned (the next call uses a fresh credential).
   */
  async fetch(provider: string, input: string | URL | Request, init: PartnerFetchInit = {}): Promise<Response> {
    const { retryNonIdempotent, ...requestInit } = init;
    const method = (requestInit.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const credential = await this.getCredential(provider, { signal: requestInit.signal ?? undefined });
    const first = await this.partnerFetch(input, withHeaders(input, requestInit, credential));
    if (first.status !== 401) return first;
    await this.reportRejected(provider, credential);
    const retry = (isIdempotent(method) || retryNonIdempotent === true) && replayable(input, requestInit);
    if (!retry) return first;
    await first.body?.cancel().catch(() => undefined);
    const fresh = await this.getCredential(provider, { signal: requestInit.signal ?? undefined });
    return this.partnerFetch(input, withHeaders(input, requestInit, fresh));
  }

  /**
   * Tells the broker the partner refused this credential, and stops using it here. Concurrent
   * reports of one credential make one request. Never throws: a failed report is an event, and
   * the next `getCredential` asks the broker again either way.
   */
  async reportRejected(provider: string, credential: Pick<PartnerCredential, "fingerprint">): Promise<RejectionResult | undefined> {
    checkProvider(provider);
    const state = this.state(provider);
    if (state.entry?.credential.fingerprint === credential.fingerprint) state.entry = undefined;
    const key = `${provider} ${credential.fingerprint}`;
    let report = this.reports.get(key);
    if (report === undefined) {
      report = this.sendReport(provider, credential.fingerprint);
      this.reports.set(key, report);
      report.finally(() => this.reports.delete(key)).catch(() => undefined);
    }
    return report;
  }

  /**
   * An `@azure/core-auth` TokenCredential serving this provider's token to Azure SDK clients
   * (Service Bus, Key Vault, …). It refuses any scope other than the one the broker states for
   * the provider, so a token is never sent to a service it was not issued for.
   */
  tokenCredential(provider: string): TokenCredential {
    checkProvider(provider);
    return brokerTokenCredential(provider, {
      knownScope: () => this.states.get(provider)?.entry?.credential.scope,
      getCredential: (signal) => this.getCredential(provider, { signal }),
      refreshAfter: (credential) => {
        const entry = this.states.get(provider)?.entry;
        return entry?.credential === credential ? entry.refreshAt : undefined;
      },
    });
  }

  private load(provider: string, state: ProviderState, minTtlSec: number): Promise<PartnerCredential> {
    const promise = this.request(provider, state, minTtlSec);
    const flight = { promise, minTtlSec };
    state.flight = flight;
    const clear = () => {
      if (state.flight === flight) state.flight = undefined;
    };
    promise.then(clear, clear);
    return promise;
  }

  private async request(provider: string, state: ProviderState, minTtlSec: number): Promise<PartnerCredential> {
    const url = new URL(`api/token/${provider}`, this.base);
    url.searchParams.set("min_ttl", String(Math.ceil(this.marginSec + minTtlSec)));
    let body: unknown;
    try {
      body = await callBroker({
        fetch: this.brokerFetch,
        url,
        method: "GET",
        authorization: await callerAuthorization(this.options.caller),
        timeoutMs: this.timeoutMs,
      });
    } catch (error) {
      if (error instanceof TokenBrokerError && error.retryAfterSec !== undefined) {
        state.blockedUntil = this.now() + error.retryAfterSec * 1000;
        state.blockedBy = error;
      }
      throw error;
    }
    const credential = parseTokenBody(provider, body);
    const fetchedAt = this.now();
    const usableUntil = credential.expiresAt.getTime() - this.marginSec * 1000;
    const refreshAt = fetchedAt + Math.max(0, usableUntil - fetchedAt) * this.fraction;
    state.entry = { credential, usableUntil, refreshAt };
    state.blockedUntil = undefined;
    state.blockedBy = undefined;
    this.emit({ type: "credential_fetched", provider, fingerprint: credential.fingerprint });
    return credential;
  }

  private async sendReport(provider: string, fingerprint: string): Promise<RejectionResult | undefined> {
    try {
      const result = (await callBroker({
        fetch: this.brokerFetch,
        url: new URL(`api/token/${provider}/rejected`, this.base),
        method: "POST",
        authorization: await callerAuthorization(this.options.caller),
        body: { fingerprint },
        timeoutMs: this.timeoutMs,
      })) as RejectionResult;
      this.emit({ type: "credential_rejected", provider, fingerprint, outcome: result?.outcome });
      return result;
    } catch (error) {
      this.emit({ type: "rejection_report_failed", provider, fingerprint, code: codeOf(error) });
      return undefined;
    }
  }

  private state(provider: string): ProviderState {
    let state = this.states.get(provider);
    if (state === undefined) {
      state = {};
      this.states.set(provider, state);
    }
    return state;
  }

  private emit(event: TokenBrokerEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A failing callback must not break credential handling.
    }
  }
}

function checkProvider(provider: string): void {
  if (!PROVIDER_NAME.test(provider)) throw new TokenBrokerError("bad_request", "Provider names are lower-case letters, digits and dashes.");
}

function codeOf(error: unknown): string {
  return error instanceof TokenBrokerError ? error.code : "internal";
}

