import { constants, createHash, generateKeyPairSync, privateEncrypt, randomBytes, type KeyObject } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { p256 } from "@noble/curves/nist.js";
import type { DevTls } from "../../dev/tls.js";
import { rsaTestPrivateKey } from "../support/test-keys.js";

/**
 * A loopback Azure Key Vault (keys only) speaking the REST protocol of the real `KeyClient` and
 * `CryptographyClient`: the bearer challenge, create, get (latest or a version), list versions,
 * update attributes, and sign over a digest the client computed. Private keys live only here —
 * nothing the vault answers contains one — so a test can prove the broker only ever gets
 * signatures. Signing follows JWA: RS256 (PKCS#1 v1.5), PS256 (PSS, salt = digest length) and
 * ES256 (ECDSA P-256, r||s).
 */
export interface StoredKey {
  name: string;
  version: string;
  kty: "RSA" | "EC";
  privateKey: KeyObject;
  createdOn: number;
  enabled: boolean;
}

export interface KeyVaultKeysServerOptions {
  tls: DevTls;
  acceptToken: (token: string) => boolean | Promise<boolean>;
  tenantId?: string;
  now?: () => number;
  /** Extra wait before each sign answer (latency of a vault round trip). */
  signDelayMs?: number;
}

/** RSA keys made by any vault of this process: each new version gets a key no other version has. */
let rsaKeysMade = 0;

const DIGEST_INFO_SHA256 = Buffer.from("3031300d060960864801650304020105000420", "hex");
const NAME = /^[0-9A-Za-z-]{1,127}$/;

export class KeyVaultKeysServer {
  readonly counts = { challenge: 0, create: 0, get: 0, versions: 0, update: 0, sign: 0 };
  /** Request lines only (never bodies). */
  readonly log: string[] = [];
  private readonly keys = new Map<string, StoredKey[]>();
  private readonly now: () => number;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: KeyVaultKeysServerOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  static async start(options: KeyVaultKeysServerOptions): Promise<KeyVaultKeysServer> {
    let vault: KeyVaultKeysServer | undefined;
    const server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => void vault!.handle(req, res, Buffer.concat(chunks)));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    vault = new KeyVaultKeysServer(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}`, options);
    return vault;
  }

  /** Creates a version directly (no HTTP), e.g. an older key; returns its version id. */
  seed(name: string, kty: "RSA" | "EC", createdOn = this.now()): string {
    return this.create(name, kty, createdOn).version;
  }

  versions(name: string): StoredKey[] {
    return [...(this.keys.get(name.toLowerCase()) ?? [])];
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private create(name: string, kty: "RSA" | "EC", createdOn: number): StoredKey {
    // RSA keys are the checkout's test keys (generating one takes ~150 ms); EC keys are cheap to make.
    const privateKey = kty === "RSA" ? rsaTestPrivateKey(`key-vault-${++rsaKeysMade}`) : generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const key: StoredKey = { name, version: randomBytes(16).toString("hex"), kty, privateKey, createdOn: Math.floor(createdOn / 1000) * 1000, enabled: true };
    const list = this.keys.get(name.toLowerCase()) ?? [];
    list.push(key);
    this.keys.set(name.toLowerCase(), list);
    return key;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const method = req.method ?? "GET";
    this.log.push(`${method} ${url.pathname}`);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (token === undefined || !(await this.options.acceptToken(token))) {
      this.counts.challenge++;
      const tenant = this.options.tenantId ?? "72f988bf-86f1-41af-91ab-2d7cd011db47";
      const extra = token === undefined ? "" : ', error="invalid_token"';
      return send(res, 401, { error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." } }, {
        "www-authenticate": `Bearer authorization="https://login.microsoftonline.com/${tenant}", resource="https://vault.azure.net"${extra}`,
      });
    }
    if (!url.searchParams.get("api-version")) return error(res, 400, "BadParameter", "The api-version query parameter is required.");
    const parts = url.pathname.split("/").filter(Boolean);
    if (parts[0] !== "keys" || !parts[1] || !NAME.test(parts[1])) return error(res, 400, "BadParameter", "Unsupported request.");
    const [, name, third, fourth] = parts as [string, string, string | undefined, string | undefined];
    const json = () => JSON.parse(body.toString("utf8") || "{}") as Record<string, any>;

    if (method === "POST" && third === "create") {
      this.counts.create++;
      const kty = String(json().kty ?? "");
      if (!/^(RSA|EC)(-HSM)?$/.test(kty)) return error(res, 400, "BadParameter", "kty must be RSA or EC.");
      return send(res, 200, this.bundle(this.create(name, kty.startsWith("RSA") ? "RSA" : "EC", this.now())));
    }
    if (method === "GET" && third === "versions") {
      this.counts.versions++;
      const value = this.versions(name).map((k) => ({ kid: this.kid(k), attributes: this.attributes(k) }));
      return send(res, 200, { value, nextLink: null });
    }
    const found = third ? this.versions(name).find((k) => k.version === third) : this.versions(name).at(-1);
    if (!found) return error(res, 404, "KeyNotFound", `A key with (name/id) ${name}${third ? `/${third}` : ""} was not found in this key vault.`);
    if (method === "GET" && fourth === undefined) {
      this.counts.get++;
      return send(res, 200, this.bundle(found));
    }
    if (method === "PATCH" && fourth === undefined) {
      this.counts.update++;
      const enabled = json().attributes?.enabled;
      if (typeof enabled === "boolean") found.enabled = enabled;
      return send(res, 200, this.bundle(found));
    }
    if (method === "POST" && fourth === "sign") {
      this.counts.sign++;
      if (!found.enabled) return error(res, 403, "Forbidden", "Operation sign is not allowed on a disabled key.");
      const { alg, value } = json() as { alg?: string; value?: string };
      const digest = Buffer.from(String(value ?? ""), "base64url");
      if (digest.length !== 32) return error(res, 400, "BadParameter", "The digest must be 32 bytes for this algorithm.");
      let signature: Uint8Array;
      try {
        signature = signDigest(found, String(alg), digest);
      } catch (e) {
        return error(res, 400, "BadParameter", (e as Error).message);
      }
      if (this.options.signDelayMs) await new Promise((r) => setTimeout(r, this.options.signDelayMs));
      return send(res, 200, { kid: this.kid(found), value: Buffer.from(signature).toString("base64url") });
    }
    return error(res, 400, "BadParameter", "Unsupported request.");
  }

  private kid(key: StoredKey): string {
    return `${this.url}/keys/${key.name}/${key.version}`;
  }

  private attributes(key: StoredKey) {
    const created = key.createdOn / 1000;
    return { enabled: key.enabled, created, updated: created, recoveryLevel: "Recoverable+Purgeable", recoverableDays: 90 };
  }

  /** The key bundle: public members only, as the real vault answers for non-exportable keys. */
  private bundle(key: StoredKey) {
    const jwk = key.privateKey.export({ format: "jwk" });
    const pub = key.kty === "RSA" ? { n: jwk.n, e: jwk.e } : { crv: "P-256", x: jwk.x, y: jwk.y };
    return { key: { kid: this.kid(key), kty: key.kty, key_ops: ["sign", "verify"], ...pub }, attributes: this.attributes(key) };
  }
}

function signDigest(key: StoredKey, alg: string, digest: Buffer): Uint8Array {
  if (alg === "ES256" && key.kty === "EC") {
    const d = Buffer.from(key.privateKey.export({ format: "jwk" }).d!, "base64url");
    return p256.sign(digest, d, { prehash: false });
  }
  if (alg === "RS256" && key.kty === "RSA") {
    return privateEncrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO_SHA256, digest]));
  }
  if (alg === "PS256" && key.kty === "RSA") {
    const bits = key.privateKey.asymmetricKeyDetails!.modulusLength!;
    return privateEncrypt({ key: key.privateKey, padding: constants.RSA_NO_PADDING }, emsaPss(digest, bits - 1));
  }
  throw new Error(`Algorithm ${alg} does not fit a ${key.kty} key.`);
}

/** RFC 8017 §9.1.1 EMSA-PSS-ENCODE with SHA-256, MGF1-SHA-256 and a 32-byte salt. */
function emsaPss(mHash: Buffer, emBits: number): Buffer {
  const hLen = 32;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(hLen);
  const h = createHash("sha256").update(Buffer.concat([Buffer.alloc(8), mHash, salt])).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - 2 * hLen - 2), Buffer.from([1]), salt]);
  const mask = mgf1(h, emLen - hLen - 1);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([db, h, Buffer.from([0xbc])]);
  // privateEncrypt without padding needs the modulus length.
  return emLen * 8 === emBits + 1 ? em : Buffer.concat([Buffer.alloc(1), em]);
}

function mgf1(seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  for (let counter = 0; out.length * 32 < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    out.push(createHash("sha256").update(Buffer.concat([seed, c])).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  res.end(JSON.stringify(body));
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}
