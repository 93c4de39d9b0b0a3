import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from "jose";
import { z } from "zod";
import { sendJson, type SandboxHandler } from "./sandbox/route.js";
import { publishOnce } from "./publish-once.js";

/** The demo configuration trusts tokens with exactly this `iss` and `aud`. */
export const DEMO_ISSUER = "https://token-broker.local/demo-issuer";
export const DEMO_AUDIENCE = "api://token-broker";
export const DEFAULT_ISSUER_DIR = ".local/issuer";
/** Where `handler` serves the public keys (on the sandbox HTTPS server). */
export const CALLER_ISSUER_JWKS_PATH = "/caller-issuer/jwks";

const KEY_FILE = "signing-key.json";
const ALG = "RS256";

export interface MintOptions {
  ttlSec?: number;
  audience?: string;
  issuer?: string;
  /** Extra claims (e.g. appid, roles); they override the defaults, so tests can replace azp or sub. */
  claims?: Record<string, unknown>;
  /** Issue time in epoch ms (default: now); lets tests mint for a manual clock. */
  now?: number;
}

/** The stored private key: read back through zod because a hand-edited or truncated file is possible. */
const StoredKeySchema = z
  .object({
    kty: z.literal("RSA"),
    kid: z.string().min(1),
    alg: z.literal(ALG),
    n: z.string().min(1),
    e: z.string().min(1),
    d: z.string().min(1),
    p: z.string().min(1),
    q: z.string().min(1),
    dp: z.string().min(1),
    dq: z.string().min(1),
    qi: z.string().min(1),
  })
  .loose();

/**
 * A local stand-in for the identity provider that issues caller tokens (Entra ID in production):
 * an RS256 key pair kept in `.local/issuer`, shared by the broker (which serves the JWKS on the
 * sandbox) and `npm run caller-token` (which mints), so tokens minted by either are accepted.
 */
export class LocalCallerIssuer {
  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly publicJwk: JWK,
    readonly kid: string,
  ) {}

  /** Loads the key pair from `dir`, creating it (dir 0700, file 0600) on first use. */
  static async load(dir = DEFAULT_ISSUER_DIR): Promise<LocalCallerIssuer> {
    const file = join(dir, KEY_FILE);
    if (!existsSync(file)) await create(dir, file);
    let stored: z.infer<typeof StoredKeySchema>;
    try {
      stored = StoredKeySchema.parse(JSON.parse(readFileSync(file, "utf8")));
    } catch {
      // The message of the parse error could quote key material: name the file, not its content.
      throw new Error(`${file} is not a valid caller-issuer key; delete it to generate a new one`);
    }
    const privateKey = (await importJWK(stored, ALG)) as CryptoKey;
    const publicJwk: JWK = { kty: "RSA", n: stored.n, e: stored.e, kid: stored.kid, alg: ALG, use: "sig" };
    return new LocalCallerIssuer(privateKey, publicJwk, stored.kid);
  }

  /** A signed caller token: azp = sub = callerId, iat, exp = iat + ttlSec, a fresh jti. */
  async mint(callerId: string, options: MintOptions = {}): Promise<string> {
    const iat = Math.floor((options.now ?? Date.now()) / 1000);
    const claims = {
      azp: callerId,
      sub: callerId,
      jti: randomUUID(),
      iat,
      exp: iat + (options.ttlSec ?? 3600),
      ...options.claims,
    };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: ALG, typ: "JWT", kid: this.kid })
      .setIssuer(options.issuer ?? DEMO_ISSUER)
      .setAudience(options.audience ?? DEMO_AUDIENCE)
      .sign(this.privateKey);
  }

  /** The public JWKS (never the private parts). */
  jwks(): { keys: JWK[] } {
    return { keys: [{ ...this.publicJwk }] };
  }

  readonly handler: SandboxHandler = (req, res, _body, url) => {
    if (url.pathname !== CALLER_ISSUER_JWKS_PATH) return false;
    if (req.method !== "GET" && req.method !== "HEAD") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "GET" });
    return sendJson(res, 200, this.jwks());
  };
}

/** Generates a key and publishes it once: when the broker and the CLI start at the same moment, one key wins and both read it. */
async function create(dir: string, file: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true, modulusLength: 2048 });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const stored = { ...(await exportJWK(privateKey)), kid, alg: ALG };
  publishOnce(file, JSON.stringify(stored, null, 2) + "\n");
}
