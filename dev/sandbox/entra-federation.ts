import { randomUUID } from "node:crypto";
import { decodeJwt, jwtVerify, SignJWT, type CryptoKey } from "jose";

/**
 * Workload identity federation in the sandbox tenant: the App Service managed identity endpoint
 * the Functions host offers its app (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), whose tokens
 * Entra signs, and the checks Entra applies when such a token is presented as a client assertion
 * to an app registration holding federated identity credentials.
 */

/** A managed identity of the Function App, as the identity endpoint serves it. */
export interface SandboxManagedIdentity {
  /** The tenant that issues its tokens (the app's home tenant). */
  tenantId: string;
  /** Object (principal) id: the `sub` of its tokens, the subject a federated credential names. */
  principalId: string;
  clientId: string;
  /** User-assigned identities are asked for by client id; one may be the system-assigned default. */
  userAssigned?: boolean;
}

/** A federated identity credential on an app registration (issuer, subject and audiences, case-sensitive). */
export interface FederatedCredential {
  issuer: string;
  subject: string;
  audiences: string[];
}

export interface EntraError {
  status: number;
  error: string;
  code: number;
  description: string;
}

export interface SigningMaterial {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  kid: string;
}

/** `GET <IDENTITY_ENDPOINT>?api-version=2019-08-01&resource=<audience>[&client_id=<id>]`, as MSAL's App Service source sends it. */
export async function managedIdentityToken(
  url: URL,
  identities: readonly SandboxManagedIdentity[],
  key: SigningMaterial,
  issuer: (tenantId: string) => string,
  nowMs: number,
  lifetimeSec: number,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const resource = url.searchParams.get("resource");
  if (url.searchParams.get("api-version") !== "2019-08-01" || !resource) {
    return { status: 400, body: { statusCode: 400, message: "api-version 2019-08-01 and resource are required" } };
  }
  const clientId = url.searchParams.get("client_id");
  const identity = clientId ? identities.find((i) => i.clientId === clientId) : identities.find((i) => !i.userAssigned);
  if (!identity) return { status: 400, body: { statusCode: 400, message: "No managed identity found for the request." } };
  const nowSec = Math.floor(nowMs / 1000);
  const audience = resource.replace(/\/\.default$/, "");
  const token = await new SignJWT({ tid: identity.tenantId, oid: identity.principalId, appid: identity.clientId, idtyp: "app", uti: randomUUID() })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key.kid })
    .setIssuer(issuer(identity.tenantId))
    .setSubject(identity.principalId)
    .setAudience(audience)
    .setIssuedAt(nowSec)
    .setNotBefore(nowSec)
    .setExpirationTime(nowSec + lifetimeSec)
    .sign(key.privateKey);
  return {
    status: 200,
    body: {
      access_token: token,
      // App Service answers epoch seconds as a string.
      expires_on: String(nowSec + lifetimeSec),
      resource: audience,
      token_type: "Bearer",
      client_id: identity.clientId,
    },
  };
}

/** True when the assertion was not made by the client itself (iss ≠ client id): Entra then looks for a federated credential. */
export function isFederatedAssertion(assertion: string, clientId: string): boolean {
  try {
    return decodeJwt(assertion).iss !== clientId;
  } catch {
    return false;
  }
}

/**
 * Entra's checks on a federated assertion: a credential whose issuer, subject and audience match
 * exactly, a valid signature from that issuer, and a current lifetime. The error codes and texts
 * are Entra's (AADSTS700211/700212/700213, 700024).
 */
export async function verifyFederatedAssertion(
  assertion: string,
  credentials: readonly FederatedCredential[],
  key: SigningMaterial,
  nowMs: number,
  skewSec: number,
): Promise<EntraError | undefined> {
  const invalid = (code: number, description: string): EntraError => ({ status: 401, error: "invalid_client", code, description });
  const check = "Check your federated identity credential Subject, Audience and Issuer against the presented assertion.";
  let claims: ReturnType<typeof decodeJwt>;
  try {
    claims = decodeJwt(assertion);
  } catch {
    return invalid(700027, "Client assertion is not a valid JWT.");
  }
  const byIssuer = credentials.filter((c) => c.issuer === claims.iss);
  if (byIssuer.length === 0) {
    return invalid(700211, `No matching federated identity record found for presented assertion issuer '${String(claims.iss)}'. ${check}`);
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const byAudience = byIssuer.filter((c) => c.audiences.some((a) => audiences.includes(a)));
  if (byAudience.length === 0) {
    return invalid(700212, `No matching federated identity record found for presented assertion audience '${audiences.join(",")}'. ${check}`);
  }
  const match = byAudience.find((c) => c.subject === claims.sub);
  if (!match) {
    return invalid(700213, `No matching federated identity record found for presented assertion subject '${String(claims.sub)}'. ${check}`);
  }
  try {
    await jwtVerify(assertion, key.publicKey, {
      algorithms: ["RS256"],
      issuer: match.issuer,
      subject: match.subject,
      audience: match.audiences,
      currentDate: new Date(nowMs),
      clockTolerance: skewSec,
      requiredClaims: ["exp"],
    });
    return undefined;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ERR_JWT_EXPIRED" || code === "ERR_JWT_CLAIM_VALIDATION_FAILED") {
      return invalid(700024, "Client assertion is not within its valid time range.");
    }
    return invalid(700027, "Client assertion contains an invalid signature.");
  }
}
