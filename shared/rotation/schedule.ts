import type { RotationConfig } from "../config/rotation-schema.js";

/** When a key made at `createdOn` is due for rotation (both rotation modes). */
export function dueAt(createdOn: number, rotation: Pick<RotationConfig, "intervalHours">): number {
  return createdOn + rotation.intervalHours * 3_600_000;
}

/** The one "is it due" rule: the rotation interval has passed since the key was made. */
export function isDue(createdOn: number, now: number, rotation: Pick<RotationConfig, "intervalHours">): boolean {
  return now >= dueAt(createdOn, rotation);
}
