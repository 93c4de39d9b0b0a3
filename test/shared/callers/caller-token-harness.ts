import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach } from "node:test";
import { exportJWK, SignJWT, type CryptoKey, type JWK } from "jose";
import { systemSleeper } from "../../../functions/system.js";
import { CallerVerifier, type CallerVerifierDeps } from "../../../shared/callers/caller-verifier.js";
import { IssuerSchema, type IssuerConfig } from "../../../shared/config/caller-schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { ManualClock } from "../../support/manual-clock.js";
import { rsaTestKeyPair } from "../../support/test-keys.js";

/**
 * Caller tokens signed with generated keys and published by loopback JWKS endpoints, shared by the
 * tests of the verifier, its trusted issuers and its verified-token cache. The keys, servers, clock
 * and logger are exported as live bindings set by the hooks of useCallerTokens().
 */

export const ISSUER = "https://idp.test/tenant-a/v2.0";
export const AUDIENCE = "api://token-broker-test";
export const CANARY = `CANARY-${randomBytes(8).toString("hex")}`;

/** A loopback JWKS endpoint that counts requests and can be told to fail. */
export class JwksServer {
  requests = 0;
  failWith: number | undefined;
  /** Served with 200 instead of the key set. */
  body: string | undefined;
  private constructor(
    private readonly server: Server,
    readonly url: string,
    public keys: JWK[],
  ) {}

  static async start(keys: JWK[]): Promise<JwksServer> {
    let self: JwksServer | undefined;
    const server = createServer((_req, res) => {
      if (!self) return res.destroy();
      self.requests++;
      if (self.failWith !== undefined) {
        res.writeHead(self.failWith, { "content-type": "text/plain" }).end("down");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(self.body ?? JSON.stringify({ keys: self.keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    self = new JwksServer(server, `http://127.0.0.1:${port}/jwks`, keys);
    return self;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** Waits (real time, bounded) for background work such as a JWKS refresh nobody awaits. */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(condition(), "condition not met within 2 s");
}

export type KeyPair = { privateKey: CryptoKey; publicKey: CryptoKey };

export let signing: KeyPair;
export let foreign: KeyPair;
export let otherIssuerKey: KeyPair;
export let jwks: JwksServer;
export let otherJwks: JwksServer;
export let clock: ManualClock;
export let logger: MemoryLogger;

export async function publicJwk(pair: KeyPair, kid: string): Promise<JWK> {
  return { ...(await exportJWK(pair.publicKey)), kid, alg: "RS256", use: "sig" };
}

/** Registers the hooks of the test file: key pairs and JWKS servers once, a fresh clock and logger per test. */
export function useCallerTokens(): void {
  before(async () => {
    signing = await rsaTestKeyPair("caller-signing");
    foreign = await rsaTestKeyPair("caller-foreign");
    otherIssuerKey = await rsaTestKeyPair("caller-other-issuer");
    jwks = await JwksServer.start([await publicJwk(signing, "k1")]);
    otherJwks = await JwksServer.start([await publicJwk(otherIssuerKey, "o1")]);
  });

  after(async () => {
    await jwks.close();
    await otherJwks.close();
  });

  beforeEach(() => {
    clock = new ManualClock();
    logger = new MemoryLogger();
    jwks.requests = 0;
    jwks.failWith = undefined;
    otherJwks.requests = 0;
  });
}

export function issuerConfig(overrides: Partial<IssuerConfig> = {}): IssuerConfig {
  return IssuerSchema.parse({ issuer: ISSUER, audience: AUDIENCE, jwksUri: jwks.url, ...overrides });
}

export function verifier(
  issuers: Record<string, IssuerConfig> = { corp: issuerConfig() },
  deps: Partial<CallerVerifierDeps> = {},
): CallerVerifier {
  return new CallerVerifier(issuers, {
    clock,
    sleeper: systemSleeper,
    fetch: (url, init) => fetch(url, init),
    logger,
    cacheSize: 100,
    jwksCacheMaxAgeMs: 0,
    ...deps,
  });
}

export interface SignOptions {
  claims?: Record<string, unknown>;
  key?: CryptoKey | Uint8Array;
  alg?: string;
  kid?: string;
}

/** A token relative to the manual clock; a claim set to undefined is left out. */
export async function sign(options: SignOptions = {}): Promise<string> {
  const now = Math.floor(clock.now() / 1000);
  const claims: Record<string, unknown> = { iss: ISSUER, aud: AUDIENCE, azp: "orders", iat: now, exp: now + 600, canary: CANARY, ...options.claims };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? "RS256", kid: options.kid ?? "k1", typ: "JWT" })
    .sign(options.key ?? signing.privateKey);
}

/** Asserts the rejection and that neither the error (with its causes) nor any log line quotes the token. */
export async function assertRejected(v: CallerVerifier, authorization: string | null | undefined, code: string, detail: string | RegExp): Promise<BrokerError> {
  const error = await v.verify(authorization).then(
    () => assert.fail(`accepted ${detail.toString()}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof BrokerError, `expected a BrokerError, got ${String(error)}`);
  assert.equal(error.code, code);
  if (typeof detail === "string") assert.equal(error.detail, detail);
  else assert.match(error.detail, detail);
  assertNoLeak(error, authorization);
  return error;
}

export function assertNoLeak(error: unknown, authorization: string | null | undefined): void {
  const texts: string[] = [JSON.stringify(logger.records)];
  for (let e: unknown = error; e instanceof Error; e = e.cause) texts.push(e.message, e.stack ?? "");
  if (error instanceof BrokerError) texts.push(error.detail);
  const token = authorization?.replace(/^\S+\s*/, "") ?? "";
  const needles = [CANARY, ...token.split(".").filter((part) => part.length >= 16)];
  if (token.length >= 16) needles.push(token);
  for (const text of texts) {
    for (const needle of needles) assert.ok(!text.includes(needle), "an error or log line quotes the token");
  }
}
