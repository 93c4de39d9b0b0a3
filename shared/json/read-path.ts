/**
 * Reads a dotted path ("data.token") of a partner's JSON answer through own properties only, so a
 * configured path can never reach into prototypes ("constructor.name", "__proto__").
 */
export function readPath(value: unknown, path: string): unknown {
  let current = value;
  for (const segment of path.split(".")) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}
