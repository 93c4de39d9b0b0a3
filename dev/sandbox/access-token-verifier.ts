import type { IncomingMessage } from "node:http";
import { parseBearer, singleHeader } from "./credentials.js";

/** Claims of a verified access token, as the sandbox partners read them. */
export type AccessTokenClaims = Record<string, unknown>;

/**
 * What an Entra-protected sandbox partner needs from the authority: EntraAuthority provides it.
 * Partners depend on this shape only, so they can be tested and composed independently.
 */
export interface AccessTokenVerifier {
  verifyAccessToken(
    token: string,
    expected: { audience: string; tenantId: string },
  ): AccessTokenClaims | undefined | Promise<AccessTokenClaims | undefined>;
}

export type BearerCheck = { ok: true; claims: AccessTokenClaims } | { ok: false; reason: string };

/**
 * Checks `Authorization: Bearer <JWT>` against the authority for one audience, and that the token
 * was issued to the expected client (a token of another app registration with the same audience is
 * refused, as Entra-protected APIs do with their app-role checks).
 */
export async function checkEntraBearer(
  req: IncomingMessage,
  verifier: AccessTokenVerifier,
  /** clientId: the app registration, or several the partner has granted access. */
  expected: { audience: string; tenantId: string; clientId: string | readonly string[] },
): Promise<BearerCheck> {
  const header = singleHeader(req.headers.authorization);
  if (header === undefined) return { ok: false, reason: "missing Authorization header" };
  const token = parseBearer(header);
  if (token === undefined) return { ok: false, reason: "Authorization is not a Bearer token" };
  const claims = await verifier.verifyAccessToken(token, { audience: expected.audience, tenantId: expected.tenantId });
  if (!claims) return { ok: false, reason: "bearer token is invalid, expired or for another audience" };
  const client = claims.azp ?? claims.appid;
  const allowed = typeof expected.clientId === "string" ? [expected.clientId] : expected.clientId;
  if (client !== undefined && !allowed.includes(String(client))) return { ok: false, reason: "bearer token was issued to another client" };
  return { ok: true, claims };
}
