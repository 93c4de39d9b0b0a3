import { ensureDevTls } from "../dev/tls.js";
import { runAssertionLatencyBench } from "./assertion-latency.js";

/**
 * Child process of `npm run bench` (started with the dev CA trusted, which the Key Vault SDK needs
 * for the loopback vault): prints one JSON line with the assertion latency figures.
 */
const fetches = Number(process.env.BENCH_ASSERTION_FETCHES ?? 200);
const vaultDelayMs = Number(process.env.BENCH_VAULT_DELAY_MS ?? 20);
const result = await runAssertionLatencyBench(await ensureDevTls(), fetches, vaultDelayMs);
process.stdout.write(JSON.stringify(result) + "\n");
