/**
 * Fixed identifiers of the demo partners. Identifiers are not secrets, so they are constants that
 * the demo configuration can name; the matching secrets are generated at every sandbox start.
 */

export const FLOWE = {
  tenantId: "5f1c0e7a-2b1d-4f10-8e00-0000f10e0001",
  clientId: "7d3c9a52-6f1e-4b8e-9c1a-f10e00000001",
  apiScope: "api://p1-test/.default",
  apiAudience: "api://p1-test",
  serviceBusScope: "https://servicebus.azure.net/.default",
  serviceBusAudience: "https://servicebus.azure.net",
  partnerName: "acme-payments",
} as const;

export const KALIBRATE = {
  tenantId: "efa98c7b-2114-46e8-be99-954a4f1a2d9c",
  clientId: "0525b217-cbb9-4d4a-b8a1-7551c30098cf",
  scope: "api://dev.data.thekalibratecloud.com/c770a337-3c7e-4bbe-a8cb-2fbc9601b94f/.default",
  audience: "api://dev.data.thekalibratecloud.com/c770a337-3c7e-4bbe-a8cb-2fbc9601b94f",
  /** The seed's own example of an agent the gateway accepts. */
  userAgent: "API-CLIENT",
} as const;

/**
 * The broker's own managed identity (system-assigned, in the app's home tenant), and a second
 * Kalibrate app registration that trusts it through a federated identity credential instead of
 * holding a client secret.
 */
export const BROKER_IDENTITY = {
  tenantId: "0b7e4a51-6c2d-4e8f-9a10-b40c0e000001",
  principalId: "3c9f2d14-8a6b-4f0e-b1d2-b40c0e00a11d",
  clientId: "91e5c7a0-2f3b-4d6e-8a9c-b40c0e00c11d",
  exchangeAudience: "api://AzureADTokenExchange",
} as const;

export const KALIBRATE_FEDERATED = {
  clientId: "6a1d9e3f-4b7c-4c2a-9e5d-7551c300fed1",
} as const;

export const AYYEKA = {
  clientKey: "ayk-demo-client",
} as const;

export const SILVERFLOW = {
  initialKeyName: "initial (agent activation)",
  initialPermissions: ["apiKeys:All", "charges:List", "bearerTokens:Create"],
  maxKeys: 40,
} as const;

/** Names of the secrets the demo configuration references; startSandbox returns a value for each. */
export const DEMO_SECRET_NAMES = {
  floweClientSecret: "flowe-client-secret",
  floweAuthKey: "flowe-authkey",
  kalibrateClientSecret: "kalibrate-client-secret",
  ayyekaClientSecret: "ayyeka-client-secret",
  silverflowApiKey: "silverflow-api-key",
  phixflowApiKey: "phixflow-api-key",
} as const;

export type DemoSecretName = (typeof DEMO_SECRET_NAMES)[keyof typeof DEMO_SECRET_NAMES];
