import { BrokerError } from "../errors/broker-error.js";

/** Key Vault's own rule for secret names; the file store applies it too so both stores accept the same names. */
export const SECRET_NAME_PATTERN = /^[0-9A-Za-z-]{1,127}$/;

/** Key Vault version ids: 32 lower-case hex characters. The file store mints ids of the same shape. */
export const SECRET_VERSION_PATTERN = /^[0-9a-f]{32}$/;

/**
 * The name is not echoed: a caller bug could pass a secret value where a name belongs, and the
 * detail of a BrokerError is shown to callers.
 */
export function assertSecretName(name: string): void {
  if (!SECRET_NAME_PATTERN.test(name)) {
    throw new BrokerError("bad_request", "A secret name must be 1-127 letters, digits or dashes.");
  }
}

export function assertSecretVersion(version: string): void {
  if (!SECRET_VERSION_PATTERN.test(version)) {
    throw new BrokerError("bad_request", "A secret version must be 32 lower-case hex characters.");
  }
}
