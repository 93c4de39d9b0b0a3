import { z } from "zod";
import { PROVIDER_NAME } from "./names.js";
import { HttpUrl } from "./url.js";

/** Who may call the broker: the token issuers it trusts and the callers with the providers each may obtain. */

export const JWS_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const;

export const IssuerSchema = z
  .object({
    issuer: z.string().min(1).describe("Exact `iss` value."),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).describe("Accepted `aud` value(s)."),
    jwksUri: HttpUrl,
    algorithms: z.array(z.enum(JWS_ALGORITHMS)).min(1).default(["RS256"]),
    clockToleranceSec: z.number().int().min(0).max(300).default(30),
    jwksCooldownSec: z
      .number()
      .int()
      .min(1)
      .max(300)
      .default(5)
      .describe(
        "At most one JWKS fetch per this many seconds, whatever the outcome: a token whose kid is unknown triggers a fetch (a key published since the last one is accepted within this time), a flood of unknown kids or a failing issuer costs one request per interval.",
      ),
    jwksMaxStaleSec: z
      .number()
      .int()
      .min(60)
      .default(21_600)
      .describe(
        "While the JWKS endpoint fails, the last key set fetched is still used until it is this old (default 6 h); after that callers whose token is not cached get 503.",
      ),
  })
  .strict();
export type IssuerConfig = z.infer<typeof IssuerSchema>;

export const CallerSchema = z
  .object({
    issuer: z.string().min(1).describe("Key of the issuer that must have signed this caller's tokens."),
    id: z.string().min(1).optional().describe("Value of azp/appid/sub identifying the caller (defaults to the caller's key)."),
    providers: z.array(z.string().regex(PROVIDER_NAME)).default([]).describe("Providers this caller may obtain."),
    roles: z.array(z.enum(["operator"])).default([]).describe('"operator" unlocks the admin routes.'),
  })
  .strict();
export type CallerConfig = z.infer<typeof CallerSchema>;
