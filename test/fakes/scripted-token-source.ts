import type { Clock } from "../../shared/clock.js";
import { fingerprint } from "../../shared/log/fingerprint.js";
import type { IssueOptions, IssuedCredential, PreparedSource, TokenSource } from "../../shared/providers/credential.js";

/** One scripted answer to issue(): a credential, an error, or a promise the test settles by hand. */
type Step =
  | { kind: "credential"; lifetimeSec: number }
  | { kind: "error"; error: unknown }
  | { kind: "deferred"; deferred: DeferredIssue };

/**
 * An issue() call held open until the test decides. `started` resolves when the source is actually
 * called, so tests wait on that event instead of sleeping.
 */
export class DeferredIssue {
  readonly started: Promise<IssueOptions>;
  private markStarted!: (options: IssueOptions) => void;
  private settle?: { resolve: (lifetimeSec?: number) => void; reject: (error: unknown) => void };

  constructor() {
    this.started = new Promise((resolve) => (this.markStarted = resolve));
  }

  /** Resolves with a new credential of `lifetimeSec` (default: the source's), issued at resolve time. */
  resolve(lifetimeSec?: number): void {
    if (!this.settle) throw new Error("deferred issue() was not called yet: await started first");
    this.settle.resolve(lifetimeSec);
  }

  reject(error: unknown): void {
    if (!this.settle) throw new Error("deferred issue() was not called yet: await started first");
    this.settle.reject(error);
  }

  /** Called by the source. */
  attach(options: IssueOptions, settle: { resolve: (lifetimeSec?: number) => void; reject: (error: unknown) => void }): void {
    this.settle = settle;
    this.markStarted(options);
  }
}

export interface ScriptedTokenSourceOptions {
  cacheKey?: string;
  /** Lifetime of credentials issued when nothing else is scripted. Default 3600. */
  lifetimeSec?: number;
  /** Access tokens are `${tokenPrefix}-${n}`: pass a canary to prove values never leak. */
  tokenPrefix?: string;
}

/**
 * A TokenSource whose issue() answers come from a script (credentials with chosen lifetimes,
 * errors, deferred promises); once the script is empty it issues default credentials. Counts every
 * prepare() and issue() call; `cacheKey` can be switched to simulate a new secret version.
 */
export class ScriptedTokenSource implements TokenSource {
  cacheKey: string;
  /** When set, prepare() rejects with it (secret store down). */
  prepareError: unknown;
  prepareCalls = 0;
  readonly issueCalls: { cacheKey: string; options: IssueOptions }[] = [];
  readonly issued: IssuedCredential[] = [];
  private readonly script: Step[] = [];
  private readonly lifetimeSec: number;
  private readonly tokenPrefix: string;

  constructor(
    readonly provider: string,
    private readonly clock: Clock,
    options: ScriptedTokenSourceOptions = {},
  ) {
    this.cacheKey = options.cacheKey ?? `${provider}:v1`;
    this.lifetimeSec = options.lifetimeSec ?? 3600;
    this.tokenPrefix = options.tokenPrefix ?? `${provider}-token`;
  }

  /** The next issue() returns a credential valid for `lifetimeSec`. */
  willIssue(lifetimeSec = this.lifetimeSec): this {
    this.script.push({ kind: "credential", lifetimeSec });
    return this;
  }

  /** The next issue() rejects with `error`. */
  willFail(error: unknown): this {
    this.script.push({ kind: "error", error });
    return this;
  }

  /** The next issue() waits for the returned handle. */
  willDefer(): DeferredIssue {
    const deferred = new DeferredIssue();
    this.script.push({ kind: "deferred", deferred });
    return deferred;
  }

  async prepare(): Promise<PreparedSource> {
    this.prepareCalls++;
    if (this.prepareError !== undefined) throw this.prepareError;
    const cacheKey = this.cacheKey;
    return { cacheKey, issue: (options) => this.issue(cacheKey, options) };
  }

  private issue(cacheKey: string, options: IssueOptions): Promise<IssuedCredential> {
    this.issueCalls.push({ cacheKey, options });
    const step = this.script.shift() ?? { kind: "credential", lifetimeSec: this.lifetimeSec };
    switch (step.kind) {
      case "credential":
        return Promise.resolve(this.mint(step.lifetimeSec));
      case "error":
        return Promise.reject(step.error);
      case "deferred":
        return new Promise((resolve, reject) =>
          step.deferred.attach(options, {
            resolve: (lifetimeSec) => resolve(this.mint(lifetimeSec ?? this.lifetimeSec)),
            reject,
          }),
        );
    }
  }

  private mint(lifetimeSec: number): IssuedCredential {
    const token = `${this.tokenPrefix}-${this.issued.length + 1}`;
    const issuedAt = this.clock.now();
    const credential: IssuedCredential = {
      tokenType: "Bearer",
      accessToken: token,
      headers: { Authorization: `Bearer ${token}` },
      issuedAt,
      expiresAt: issuedAt + lifetimeSec * 1000,
      fingerprint: fingerprint(token),
    };
    this.issued.push(credential);
    return credential;
  }
}
