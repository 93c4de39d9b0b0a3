import { createSecureContext } from "node:tls";
import { BrokerError } from "../errors/broker-error.js";

/** What a TLS client needs to present a certificate: PEM blocks, or a PKCS#12 bundle. */
export type ClientCertificateMaterial = { cert: string; key: string } | { pfx: Buffer };

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PRIVATE_KEY = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/;
const BASE64 = /^[A-Za-z0-9+/\s]+={0,2}\s*$/;

/**
 * Reads a client certificate secret: a PEM with the certificate chain and an unencrypted private
 * key, or a password-less PFX in base64 (a Key Vault certificate's secret has content type
 * application/x-pkcs12 and is exactly that). Checked by building a TLS context, so a broken secret
 * is `secret_unavailable` at once, naming the secret and never quoting it.
 */
export function parseClientCertificate(secretName: string, value: string): ClientCertificateMaterial {
  const material = materialOf(value);
  try {
    if (!material) throw new Error("not a PEM or PFX");
    createSecureContext(material);
    return material;
  } catch (error) {
    throw new BrokerError(
      "secret_unavailable",
      `Secret "${secretName}" is not a client certificate (a PEM with certificate and unencrypted key, or a password-less PFX in base64).`,
      { cause: error instanceof Error ? new Error(error.name) : undefined },
    );
  }
}

function materialOf(value: string): ClientCertificateMaterial | undefined {
  const certs = value.match(CERTIFICATE);
  const key = PRIVATE_KEY.exec(value)?.[0];
  if (certs && key) return { cert: certs.join("\n"), key };
  if (value.length > 64 && BASE64.test(value)) {
    const pfx = Buffer.from(value.replace(/\s+/g, ""), "base64");
    // PKCS#12 is a DER SEQUENCE.
    if (pfx[0] === 0x30) return { pfx };
  }
  return undefined;
}
