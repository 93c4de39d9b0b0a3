import { timingSafeEqual } from "node:crypto";

/**
 * Parsing of the credentials sandbox partners receive. Pure functions, so every partner checks the
 * Authorization header the same strict way and never echoes what it was sent.
 */

export interface BasicCredentials {
  user: string;
  password: string;
}

/** RFC 7617: `Basic base64(user ":" password)`; the user part cannot contain ":". */
export function parseBasic(header: string | undefined): BasicCredentials | undefined {
  const match = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(header?.trim() ?? "");
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * RFC 6749 section 2.3.1 form-encodes client id and secret before the Basic encoding; a client
 * following it and one following RFC 7617 differ only when either contains a reserved character,
 * so a token endpoint accepts both readings.
 */
export function basicCandidates(credentials: BasicCredentials): BasicCredentials[] {
  const decoded = { user: formDecode(credentials.user), password: formDecode(credentials.password) };
  if (decoded.user === undefined || decoded.password === undefined) return [credentials];
  if (decoded.user === credentials.user && decoded.password === credentials.password) return [credentials];
  return [credentials, { user: decoded.user, password: decoded.password }];
}

/** `Bearer <token68>` (RFC 6750); anything else, including a bare token, is not a bearer credential. */
export function parseBearer(header: string | undefined): string | undefined {
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header?.trim() ?? "");
  return match?.[1];
}

/** A header that arrived once, as a string; repeated or absent headers count as absent. */
export function singleHeader(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}

/** Constant-time string comparison, so the sandbox does not teach timing-leaky habits. */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  return left.length === right.length && timingSafeEqual(left, right);
}
