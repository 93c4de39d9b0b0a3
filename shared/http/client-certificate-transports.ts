import type { SecretVersion } from "../secrets/secret-store.js";
import { parseClientCertificate, type ClientCertificateMaterial } from "./client-certificate.js";
import type { FetchLike } from "./fetch-like.js";

/** A fetch whose TLS connections present one client certificate, and the way to release its sockets. */
export interface CertificateFetch {
  fetch: FetchLike;
  close(): Promise<void>;
}

export type CertificateFetchFactory = (material: ClientCertificateMaterial) => CertificateFetch;

/**
 * One mutual-TLS transport per client certificate secret, so a provider's certificate is only
 * ever presented on that provider's connections. A new secret version (a renewed certificate)
 * gets a new transport and the old one's connections are closed; the factory is loaded on first
 * use, so apps without mTLS providers never load the HTTP client behind it.
 */
export class ClientCertificateTransports {
  private readonly byName = new Map<string, { version: string; transport: Promise<CertificateFetch> }>();

  constructor(private readonly factory: () => Promise<CertificateFetchFactory>) {}

  fetchFor(secret: SecretVersion): Promise<FetchLike> {
    const current = this.byName.get(secret.name);
    if (current?.version === secret.version) return current.transport.then((t) => t.fetch);
    const material = parseClientCertificate(secret.name, secret.value);
    const transport = this.factory().then((create) => create(material));
    this.byName.set(secret.name, { version: secret.version, transport });
    current?.transport.then((t) => t.close()).catch(() => undefined);
    return transport.then((t) => t.fetch);
  }

  async close(): Promise<void> {
    const transports = [...this.byName.values()];
    this.byName.clear();
    await Promise.all(transports.map((entry) => entry.transport.then((t) => t.close()).catch(() => undefined)));
  }
}
