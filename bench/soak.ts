import { soak as hugeBody } from "./soak-huge-body.js";
import { soak as issuerOutage } from "./soak-issuer.js";
import { soak as partnerHang } from "./soak-partner-hang.js";

/**
 * `npm run soak`: the broker under partner faults, on loopback, bounded in time (well under a
 * minute) and requests. Each scenario is a module of its own, run one after the other, each with
 * its own broker process.
 */
const SCENARIOS: (() => Promise<{ name: string; figures: Record<string, string | number> }>)[] = [hugeBody, partnerHang, issuerOutage];

let failed = false;
for (const scenario of SCENARIOS) {
  try {
    const { name, figures } = await scenario();
    console.log(`\n${name}`);
    for (const [key, value] of Object.entries(figures)) console.log(`  ${key.padEnd(34)} ${value}`);
  } catch (error) {
    failed = true;
    console.error(`soak scenario failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}
process.exitCode = failed ? 1 : 0;
