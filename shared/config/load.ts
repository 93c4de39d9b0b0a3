import { z } from "zod";
import { ConfigSchema, referenceProblems, type BrokerConfig } from "./schema.js";

/**
 * Parses configuration text. Every bad field is named, with its path, in one error so an operator
 * fixes the whole file in one go.
 */
export function parseConfig(text: string, source = "config"): BrokerConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${source}: not valid JSON (${(error as Error).message})`, []);
  }
  // Parsed once per process: interpreting is cheaper than compiling zod's per-shape fast path (jit),
  // which costs most of a cold start's config validation and would never be used again.
  const result = ConfigSchema.safeParse(raw, { jitless: true });
  if (!result.success) {
    const problems = result.error.issues.map(formatIssue);
    for (const reference of referenceProblems(raw)) {
      const line = `${reference.path.map(String).join(".")}: ${reference.message}`;
      if (!problems.includes(line)) problems.push(line);
    }
    throw new ConfigError(`${source}: ${problems.length} invalid field(s):\n  - ${problems.join("\n  - ")}`, problems);
  }
  return result.data;
}

/** A configuration that cannot run. A start-up error, never an HTTP answer. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(message);
  }
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.map(String).join(".") : "(root)";
  return `${path}: ${issue.message}`;
}
