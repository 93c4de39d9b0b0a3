import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import type { TokenCredential } from "@azure/identity";
import { KeyClient } from "@azure/keyvault-keys";
import type { DevTls } from "../dev/tls.js";
import { systemClock, systemSleeper } from "../functions/system.js";
import { OAuth2ProviderSchema } from "../shared/config/oauth2-schema.js";
import { MemoryLogger } from "../shared/log/logger.js";
import { OAuth2Source } from "../shared/providers/oauth2-source.js";
import type { AssertionSigner } from "../shared/signing/assertion-signer.js";
import { ClientAssertions } from "../shared/signing/client-assertions.js";
import { KeyVaultSigner } from "../shared/signing/key-vault-signer.js";
import { PemSigner } from "../shared/signing/pem-signer.js";
import { UpstreamCaller } from "../shared/upstream/upstream-caller.js";
import { KeyVaultKeysServer } from "../test/fakes/key-vault-keys-server.js";
import { MemorySecretStore } from "../test/fakes/memory-secret-store.js";

export interface AssertionLatencyResult {
  fetches: number;
  vaultDelayMs: number;
  /** Median and p95 of one token fetch (assertion + token request), per signer. */
  pem: { p50: number; p95: number };
  vault: { p50: number; p95: number };
  vaultDelayed: { p50: number; p95: number };
}

/**
 * The extra latency a vault-signed assertion adds to a token fetch: the same private_key_jwt token
 * request against a loopback token endpoint, signed (1) with a PEM key in process, (2) by the
 * loopback keys vault through the real @azure/keyvault-keys client, and (3) the same with a
 * configured delay on every sign answer, standing for the round trip to a real vault.
 */
export async function runAssertionLatencyBench(tls: DevTls, fetches = 200, vaultDelayMs = 20): Promise<AssertionLatencyResult> {
  const token = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ access_token: `t-${Math.random()}`, token_type: "Bearer", expires_in: 3600 }));
    });
  });
  await new Promise<void>((resolve) => token.listen(0, "127.0.0.1", resolve));
  const tokenUrl = `http://127.0.0.1:${(token.address() as AddressInfo).port}/token`;
  const credential: TokenCredential = { getToken: async () => ({ token: "bench", expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const vaults = await Promise.all([0, vaultDelayMs].map((signDelayMs) => KeyVaultKeysServer.start({ tls, acceptToken: (t) => t === "bench", signDelayMs })));
  try {
    const secrets = new MemorySecretStore();
    await secrets.set("bench-key", generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "pem", type: "pkcs8" }) as string);
    const vaultSigner = (vault: KeyVaultKeysServer) => {
      vault.seed("bench-key", "RSA", Date.now() - 86_400_000);
      const client = new KeyClient(vault.url, credential, { disableChallengeResourceVerification: true });
      return new KeyVaultSigner({ client, keyName: "bench-key", alg: "RS256", clock: systemClock, policy: { publishOverlapMs: 0, inUseMs: 0 } });
    };
    const measure = async (signer: AssertionSigner) => {
      const config = OAuth2ProviderSchema.parse({ kind: "oauth2", tokenUrl, clientId: "bench", clientAuth: "private_key_jwt", signingKey: { pem: { secret: "bench-key" } } });
      const logger = new MemoryLogger();
      const caller = new UpstreamCaller("bench", config.upstream, { clock: systemClock, sleeper: systemSleeper, random: Math.random, logger });
      const assertions = new ClientAssertions(signer, config.assertion, systemClock);
      const source = new OAuth2Source({ name: "bench", config, secrets, fetch: globalThis.fetch, clock: systemClock, caller, assertions });
      const prepared = await source.prepare();
      for (let i = 0; i < 10; i++) await prepared.issue({ force: true });
      const times: number[] = [];
      for (let i = 0; i < fetches; i++) {
        const start = performance.now();
        await prepared.issue({ force: true });
        times.push(performance.now() - start);
      }
      times.sort((a, b) => a - b);
      const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]! * 100) / 100;
      return { p50: at(0.5), p95: at(0.95) };
    };
    return {
      fetches,
      vaultDelayMs,
      pem: await measure(new PemSigner("bench-key", "RS256", secrets)),
      vault: await measure(vaultSigner(vaults[0]!)),
      vaultDelayed: await measure(vaultSigner(vaults[1]!)),
    };
  } finally {
    await Promise.all(vaults.map((v) => v.close()));
    token.closeAllConnections();
    await new Promise<void>((resolve) => token.close(() => resolve()));
  }
}

export function formatAssertionLatency(r: AssertionLatencyResult): string {
  const extra = (x: { p50: number }) => `+${Math.round((x.p50 - r.pem.p50) * 100) / 100} ms`;
  return [
    `  private_key_jwt token fetch, ${r.fetches} fetches each (median / p95 ms):`,
    `    PEM key in process             ${r.pem.p50} / ${r.pem.p95}`,
    `    Key Vault key (loopback vault) ${r.vault.p50} / ${r.vault.p95}   (${extra(r.vault)} per fetch)`,
    `    Key Vault key, +${r.vaultDelayMs} ms per sign  ${r.vaultDelayed.p50} / ${r.vaultDelayed.p95}   (${extra(r.vaultDelayed)} per fetch)`,
  ].join("\n");
}
