// The package's public surface.
export { TokenBrokerClient } from "./client.js";
export type { GetCredentialOptions, PartnerFetchInit, RejectionResult, TokenBrokerClientOptions, TokenBrokerEvent } from "./client.js";
export type { CallerAuth } from "./caller-auth.js";
export type { PartnerCredential } from "./credential.js";
export { TokenBrokerError } from "./errors.js";
