import { iso } from "../clock.js";
import type { RotationConfig } from "../config/rotation-schema.js";
import type { RotationStatus } from "./rotation-types.js";
import { dueAt } from "./schedule.js";

type KeyAge = Pick<RotationStatus, "keyCreatedAt" | "keyAgeSec" | "nextDueAt" | "maxAgeDays" | "stale">;

/** Age, due date and staleness of the key in service, as both rotation modes report them. */
export function keyAge(createdOn: number, now: number, rotation: RotationConfig): KeyAge {
  const age: KeyAge = {
    keyCreatedAt: iso(createdOn),
    keyAgeSec: Math.max(0, Math.floor((now - createdOn) / 1000)),
    nextDueAt: iso(dueAt(createdOn, rotation)),
  };
  if (rotation.maxAgeDays !== undefined) {
    age.maxAgeDays = rotation.maxAgeDays;
    age.stale = now - createdOn > rotation.maxAgeDays * 86_400_000;
  }
  return age;
}
