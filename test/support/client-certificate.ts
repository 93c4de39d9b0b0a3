import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";
import { rsaTestKeyPair } from "./test-keys.js";

export interface ClientCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

/** A self-signed RSA client certificate and its key, for Entra certificate-credential tests. */
export async function selfSignedClientCertificate(cn: string): Promise<ClientCertificate> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  // The key is the checkout's test key for this name (generating one takes ~150 ms); the certificate is made anew.
  const keys = (await rsaTestKeyPair(`client-certificate-${cn}`)) as webcrypto.CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: `CN=${cn}`,
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: alg,
    keys,
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certificatePem: certificate.toString("pem"), privateKeyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") };
}
