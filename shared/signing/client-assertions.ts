import { randomUUID } from "node:crypto";
import type { Clock } from "../clock.js";
import type { ClientAssertionConfig } from "../config/oauth2-schema.js";
import type { AssertionSigner } from "./assertion-signer.js";
import { base64url, signingInput } from "./jws.js";

/** A reused assertion is replaced once less than this share of its lifetime is left. */
const REUSE_UNTIL_FRACTION = 0.5;

/**
 * RFC 7523 §2.2 client assertions (OpenID Connect private_key_jwt): iss = sub = the client id,
 * aud = the token endpoint (or a configured audience), a unique jti, iat and a short exp. One per
 * token request unless the partner allows reuse.
 */
export class ClientAssertions {
  private reusable: { value: string; expiresAt: number } | undefined;

  constructor(
    private readonly signer: AssertionSigner,
    private readonly config: ClientAssertionConfig,
    private readonly clock: Clock,
  ) {}

  async assertion(clientId: string, audience: string): Promise<string> {
    const now = this.clock.now();
    const lifetimeMs = this.config.lifetimeSec * 1000;
    if (this.config.reuse && this.reusable && this.reusable.expiresAt - now > lifetimeMs * REUSE_UNTIL_FRACTION) return this.reusable.value;
    const key = await this.signer.current();
    const iat = Math.floor(now / 1000);
    const input = signingInput(
      { alg: key.alg, typ: "JWT", kid: key.kid },
      { iss: clientId, sub: clientId, aud: this.config.audience ?? audience, jti: randomUUID(), iat, nbf: iat, exp: iat + this.config.lifetimeSec },
    );
    const value = `${input}.${base64url(await this.signer.sign(key, input))}`;
    if (this.config.reuse) this.reusable = { value, expiresAt: (iat + this.config.lifetimeSec) * 1000 };
    return value;
  }
}
