import type { LocalCallerIssuer } from "../caller-issuer.js";
import type { DevTls } from "../tls.js";
import { AyyekaSandbox } from "./ayyeka.js";
import {
  AYYEKA,
  BROKER_IDENTITY,
  DEMO_SECRET_NAMES,
  FLOWE,
  KALIBRATE,
  KALIBRATE_FEDERATED,
  SILVERFLOW,
  type DemoSecretName,
} from "./demo-identities.js";
import { EntraAuthority } from "./entra-authority.js";
import { FloweSandbox } from "./flowe.js";
import { KalibrateSandbox } from "./kalibrate.js";
import { PhixflowSandbox, newPhixflowKey } from "./phixflow.js";
import { randomSecret } from "./random.js";
import { sendJson, type SandboxHandler } from "./route.js";
import { serveHandlers } from "./serve.js";
import { SilverflowSandbox, newSilverflowKeyId, newSilverflowSecret } from "./silverflow.js";

export interface StartSandboxOptions {
  tls: DevTls;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** When given, its JWKS is served at /caller-issuer/jwks. */
  issuer?: LocalCallerIssuer;
}

export interface Sandbox {
  /** https://<host>:<port> */
  url: string;
  port: number;
  /** The credentials generated for this run, by the secret names the demo configuration uses. */
  secrets: Record<DemoSecretName, string>;
  authority: EntraAuthority;
  flowe: FloweSandbox;
  kalibrate: KalibrateSandbox;
  ayyeka: AyyekaSandbox;
  silverflow: SilverflowSandbox;
  phixflow: PhixflowSandbox;
  close(): Promise<void>;
}

/**
 * Every sandbox partner, the Entra look-alike authority and the caller-issuer JWKS on ONE loopback
 * HTTPS server, each under its own path prefix. Secrets are generated fresh at every start and
 * returned so the caller can write them into the local secret store.
 */
export async function startSandbox(options: StartSandboxOptions): Promise<Sandbox> {
  const silverflowKey = { id: newSilverflowKeyId(), secret: newSilverflowSecret() };
  const secrets: Record<DemoSecretName, string> = {
    [DEMO_SECRET_NAMES.floweClientSecret]: randomSecret(),
    [DEMO_SECRET_NAMES.floweAuthKey]: randomSecret(24),
    [DEMO_SECRET_NAMES.kalibrateClientSecret]: randomSecret(),
    [DEMO_SECRET_NAMES.ayyekaClientSecret]: randomSecret(),
    [DEMO_SECRET_NAMES.silverflowApiKey]: JSON.stringify(silverflowKey),
    [DEMO_SECRET_NAMES.phixflowApiKey]: newPhixflowKey(),
  };

  // The origin is known only once the server listens; the authority reads it per request.
  let origin = "";
  const authority = new EntraAuthority({
    origin: () => origin,
    clients: [
      {
        tenantId: FLOWE.tenantId,
        clientId: FLOWE.clientId,
        clientSecret: secrets[DEMO_SECRET_NAMES.floweClientSecret],
        allowedScopes: [FLOWE.apiScope, FLOWE.serviceBusScope],
      },
      {
        tenantId: KALIBRATE.tenantId,
        clientId: KALIBRATE.clientId,
        clientSecret: secrets[DEMO_SECRET_NAMES.kalibrateClientSecret],
        allowedScopes: [KALIBRATE.scope],
      },
    ],
    managedIdentities: [BROKER_IDENTITY],
  });
  const flowe = new FloweSandbox({ verifier: authority, authKey: secrets[DEMO_SECRET_NAMES.floweAuthKey] });
  const kalibrate = new KalibrateSandbox({ verifier: authority });
  const ayyeka = new AyyekaSandbox({ clientKey: AYYEKA.clientKey, clientSecret: secrets[DEMO_SECRET_NAMES.ayyekaClientSecret] });
  const silverflow = new SilverflowSandbox({
    initialKeys: [
      {
        key: silverflowKey.id,
        secret: silverflowKey.secret,
        permissions: [...SILVERFLOW.initialPermissions],
        name: SILVERFLOW.initialKeyName,
      },
    ],
  });
  const phixflow = new PhixflowSandbox({ initialKeys: [secrets[DEMO_SECRET_NAMES.phixflowApiKey]] });

  const handlers: SandboxHandler[] = [
    health,
    flowe.handler,
    kalibrate.handler,
    ayyeka.handler,
    silverflow.handler,
    phixflow.handler,
    ...(options.issuer ? [options.issuer.handler] : []),
    // Last: its routes start with a tenant id, not a fixed prefix.
    authority.handler,
  ];
  const served = await serveHandlers(handlers, {
    tls: options.tls,
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
  });
  origin = served.url;
  // Registered once the origin (and so the managed identity's token issuer) is known. No secret
  // at all: the broker's managed identity is trusted through a federated identity credential.
  authority.addClient({
    tenantId: KALIBRATE.tenantId,
    clientId: KALIBRATE_FEDERATED.clientId,
    allowedScopes: [KALIBRATE.scope],
    federatedCredentials: [
      { issuer: authority.issuer(BROKER_IDENTITY.tenantId), subject: BROKER_IDENTITY.principalId, audiences: [BROKER_IDENTITY.exchangeAudience] },
    ],
  });
  return { url: served.url, port: served.port, secrets, authority, flowe, kalibrate, ayyeka, silverflow, phixflow, close: served.close };
}

const health: SandboxHandler = (req, res, _body, url) => {
  if (url.pathname !== "/_sandbox/health") return false;
  if (req.method !== "GET") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "GET" });
  return sendJson(res, 200, { status: "ok" });
};
