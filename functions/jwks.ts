import { app } from "@azure/functions";
import { handleHttp } from "../shared/http/handle-http.js";
import type { HttpResult } from "../shared/http/http-result.js";
import { broker, ready } from "./runtime.js";

/**
 * GET /api/jwks: anonymous. The public keys of every private_key_jwt signing key — the version
 * that signs, the next one (published ahead of use) and the previous one while assertions it
 * signed can still be presented — for partners that accept a jwks_uri.
 */
export async function jwks(): Promise<HttpResult> {
  return handleHttp(broker.logger, "jwks", async () => ({
    status: 200,
    headers: { "content-type": "application/jwk-set+json", "cache-control": `public, max-age=${broker.signingKeys.jwksMaxAgeSec()}` },
    body: JSON.stringify(await broker.signingKeys.jwks()),
  }));
}

app.http("jwks", { route: "jwks", methods: ["GET"], authLevel: "anonymous", handler: jwks });

// Registered first, then wait for the broker (README, "How function files register").
await ready;
