import { webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * A local certificate authority and a loopback server certificate, generated once per checkout in
 * pure JS (no openssl needed). The Azure SDKs insist on HTTPS for authorities and Key Vault, so the
 * sandbox partners and the test fakes serve this certificate, and processes that talk to them get
 * the CA through NODE_EXTRA_CA_CERTS (see withDevCa).
 */
export interface DevTls {
  caFile: string;
  ca: string;
  cert: string;
  key: string;
}

export const DEFAULT_TLS_DIR = resolve(".local", "tls");

export async function ensureDevTls(dir = DEFAULT_TLS_DIR): Promise<DevTls> {
  const caFile = join(dir, "ca.pem");
  const certFile = join(dir, "server.pem");
  const keyFile = join(dir, "server-key.pem");
  if (!(existsSync(caFile) && existsSync(certFile) && existsSync(keyFile))) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const files = await generate();
    // Key and cert first, CA last: the CA file's presence marks a complete set.
    atomicWrite(keyFile, files.key);
    atomicWrite(certFile, files.cert);
    atomicWrite(caFile, files.ca);
  }
  return { caFile, ca: readFileSync(caFile, "utf8"), cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
}

/**
 * Environment for a child process that must trust the dev CA. NODE_EXTRA_CA_CERTS is read only at
 * start and replaces any value already set, so an existing CA file is concatenated, not dropped.
 */
export function withDevCa(env: NodeJS.ProcessEnv, tls: DevTls): NodeJS.ProcessEnv {
  const existing = env.NODE_EXTRA_CA_CERTS;
  if (!existing || existing === tls.caFile) return { ...env, NODE_EXTRA_CA_CERTS: tls.caFile };
  if (existing.endsWith("bundle-with-dev-ca.pem")) return env;
  const bundle = join(resolve(tls.caFile, ".."), "bundle-with-dev-ca.pem");
  const content = readFileSync(existing, "utf8") + "\n" + tls.ca;
  // Atomic and only when changed: concurrent runs otherwise hand a half-written bundle to a child
  // process, which then does not trust the dev CA (seen as random TLS failures in SDK tests).
  if (!existsSync(bundle) || readFileSync(bundle, "utf8") !== content) atomicWrite(bundle, content);
  return { ...env, NODE_EXTRA_CA_CERTS: bundle };
}

async function generate(): Promise<{ ca: string; cert: string; key: string }> {
  // Loaded only to make the files, once per checkout: loading it costs every process that merely
  // reads them (each test file that serves HTTPS, each dev tool) about 0.2 s of CPU at start.
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
  const now = new Date(Date.UTC(new Date().getUTCFullYear(), 0, 1));
  const notAfter = new Date(now.getTime() + 5 * 365 * 86_400_000);
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: "CN=Token Broker Dev CA",
    notBefore: now,
    notAfter,
    signingAlgorithm: alg,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const leafKeys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: "CN=localhost",
    issuer: caCert.subject,
    notBefore: now,
    notAfter,
    signingAlgorithm: alg,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", leafKeys.privateKey);
  const key = x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
  return { ca: caCert.toString("pem"), cert: leaf.toString("pem"), key };
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(8));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive serial
  return Buffer.from(bytes).toString("hex");
}

function atomicWrite(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, file);
}
