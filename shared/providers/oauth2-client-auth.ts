import type { OAuth2ProviderConfig } from "../config/oauth2-schema.js";
import { BrokerError } from "../errors/broker-error.js";
import type { ClientCertificateTransports } from "../http/client-certificate-transports.js";
import type { FetchLike } from "../http/fetch-like.js";
import type { SecretStore, SecretVersion } from "../secrets/secret-store.js";
import type { ClientAssertions } from "../signing/client-assertions.js";
import { resolveValue } from "./headers.js";

/** How one OAuth2 provider authenticates its token requests, resolved from the secret store. */
export interface OAuth2ClientAuth {
  /** `name@version` of every secret read: part of the cache key, so a new version is picked up. */
  versions: string[];
  /** The transport: this provider's own mutual-TLS connections, or the shared fetch. */
  fetch: FetchLike;
  /** Adds the client's identity (and proof, when it travels in the request) to one token request. */
  apply(headers: Record<string, string>, body: URLSearchParams): void | Promise<void>;
}

export interface OAuth2ClientAuthDeps {
  secrets: SecretStore;
  fetch: FetchLike;
  /** Required by providers with a tlsClientCertificate. */
  certificates?: ClientCertificateTransports;
  /** Required by private_key_jwt providers: their client assertions. */
  assertions?: ClientAssertions;
}

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

export async function prepareOAuth2ClientAuth(config: OAuth2ProviderConfig, deps: OAuth2ClientAuthDeps): Promise<OAuth2ClientAuth> {
  const { secrets } = deps;
  const [clientId, clientSecret, certificate] = await Promise.all([
    resolveValue(config.clientId, secrets),
    config.clientSecret ? secrets.get(config.clientSecret.secret) : undefined,
    config.tlsClientCertificate ? secrets.get(config.tlsClientCertificate.secret) : undefined,
  ]);
  const versions = [clientSecret, certificate].filter((s): s is SecretVersion => s !== undefined).map((s) => `${s.name}@${s.version}`);
  if (clientId.version) versions.push(clientId.version);
  if (certificate && !deps.certificates) throw new BrokerError("internal", "A client certificate is configured but no mTLS transport was wired.");
  const fetch = certificate ? await deps.certificates!.fetchFor(certificate) : deps.fetch;
  const id = clientId.value;
  switch (config.clientAuth) {
    case "client_secret_basic":
      return {
        versions,
        fetch,
        apply: (headers) => {
          headers.Authorization = basicClientAuth(id, clientSecret!.value);
        },
      };
    case "client_secret_post":
      return {
        versions,
        fetch,
        apply: (_headers, body) => {
          body.set("client_id", id);
          body.set("client_secret", clientSecret!.value);
        },
      };
    case "tls_client_auth":
      // RFC 8705 §2.1: the certificate on the connection is the proof; client_id names the client.
      return { versions, fetch, apply: (_headers, body) => body.set("client_id", id) };
    case "private_key_jwt": {
      const assertions = deps.assertions;
      if (!assertions) throw new BrokerError("internal", "private_key_jwt is configured but no signer was wired.");
      return {
        versions,
        fetch,
        // RFC 7523 §2.2: a fresh assertion per request (unless the partner allows reuse).
        apply: async (_headers, body) => {
          body.set("client_id", id);
          body.set("client_assertion_type", ASSERTION_TYPE);
          body.set("client_assertion", await assertions.assertion(id, config.tokenUrl));
        },
      };
    }
  }
}

/**
 * RFC 6749 §2.3.1: id and secret are each application/x-www-form-urlencoded BEFORE being joined
 * with ":" and base64-encoded. This differs from plain RFC 7617 Basic as soon as either contains a
 * space, ":", "+", "%" or any non-alphanumeric character.
 */
export function basicClientAuth(clientId: string, clientSecret: string): string {
  return "Basic " + Buffer.from(`${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`, "utf8").toString("base64");
}

/**
 * application/x-www-form-urlencoded byte serialisation (WHATWG URL): UTF-8, every byte outside
 * [A-Za-z0-9*-._] percent-encoded, space as "+".
 */
export function formUrlEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, "+");
}
