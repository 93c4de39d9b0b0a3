import { Agent, fetch as undiciFetch } from "undici";
import type { CertificateFetchFactory } from "./client-certificate-transports.js";
import type { FetchLike } from "./fetch-like.js";

/**
 * The mutual-TLS transport: undici (the HTTP client behind Node's own fetch) with an Agent holding
 * the client certificate. Node's global fetch cannot be given TLS client options, and undici's
 * Agent is the supported way to; using undici's fetch with its own Agent keeps both from one version.
 */
export const undiciCertificateFetch: CertificateFetchFactory = (material) => {
  const agent = new Agent({ connect: { ...material } });
  const fetch: FetchLike = (input, init) =>
    undiciFetch(input, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher: agent }) as unknown as Promise<Response>;
  return { fetch, close: () => agent.close() };
};
