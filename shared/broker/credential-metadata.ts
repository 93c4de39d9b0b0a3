import { iso } from "../clock.js";
import type { IssuedCredential } from "../providers/credential.js";

/** What an operator or a reporting caller is told about the credential in service: never its value. */
export interface CredentialMetadata {
  token_type: string;
  fingerprint: string;
  issued_at: string;
  expires_at: string;
}

export function credentialMetadata(credential: IssuedCredential): CredentialMetadata {
  return {
    token_type: credential.tokenType,
    fingerprint: credential.fingerprint,
    issued_at: iso(credential.issuedAt),
    expires_at: iso(credential.expiresAt),
  };
}
