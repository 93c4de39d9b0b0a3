/** The name rules of the configuration file, shared by every section that names a secret, a header or a provider. */

/** Key Vault's own rule for secret (and key) names. */
export const SECRET_NAME = /^[0-9A-Za-z-]{1,127}$/;
/** RFC 9110 token. */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
export const PROVIDER_NAME = /^[a-z0-9](?:[a-z0-9-]{0,62})$/;
