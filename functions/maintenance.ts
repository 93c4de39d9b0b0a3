import { app, type InvocationContext, type Timer } from "@azure/functions";
import { runMaintenanceTimer } from "../shared/broker/maintenance.js";
import { broker, maintenanceSchedule, ready } from "./runtime.js";

/**
 * Timer `maintenance`: rotate signing keys, pre-warm, resume and start rotations, retire old keys,
 * sweep orphans; the steps, in order, are listed in shared/broker/maintenance.ts. Each provider's
 * outcome is logged by the run itself (`maintenance_summary`).
 */
export async function maintenance(timer: Timer, context: InvocationContext): Promise<void> {
  context.log(`maintenance: isPastDue=${timer.isPastDue}`);
  await runMaintenanceTimer(broker, timer);
}

app.timer("maintenance", {
  schedule: maintenanceSchedule,
  runOnStartup: false,
  handler: maintenance,
});

// Registered first, then wait for the broker (README, "How function files register").
await ready;
