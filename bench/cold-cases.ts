import type { DemoEnvironment } from "../dev/demo/environment.js";
import { KALIBRATE } from "../dev/sandbox/demo-identities.js";

/** A provider the bench keeps cold (no pre-warm) and the sandbox counter of its upstream token requests. */
export interface ColdCase {
  provider: string;
  caller: string;
  upstreamTokenRequests: () => number;
}

/** Providers whose pre-warm the bench removes from the demo config, so a burst finds them cold. */
export const COLD_PROVIDERS = ["kalibrate", "ayyeka"] as const;

/** Removes the pre-warm of the cold providers (a config edit for startDemoEnvironment). */
export function keepColdProvidersCold(raw: Record<string, any>): void {
  for (const name of COLD_PROVIDERS) delete raw.providers?.[name]?.prewarm;
}

/** One Entra provider (token requests at the sandbox authority) and one OAuth2 provider. */
export function coldCases(env: DemoEnvironment): ColdCase[] {
  return [
    {
      provider: "kalibrate",
      caller: "orders-service",
      upstreamTokenRequests: () => env.sandbox.authority.requestsFor(KALIBRATE.clientId, KALIBRATE.scope),
    },
    { provider: "ayyeka", caller: "orders-service", upstreamTokenRequests: () => env.sandbox.ayyeka.tokenRequests },
  ];
}
