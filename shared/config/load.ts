import { z } from "zod";
import { BrokerError } from "../errors/broker-error.js";
import { ConfigSchema, type BrokerConfig } from "./schema.js";

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
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map(formatIssue);
    throw new ConfigError(`${source}: ${problems.length} invalid field(s):\n  - ${problems.join("\n  - ")}`, problems);
  }
  return result.data;
}

export class ConfigError extends BrokerError {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super("bad_request", message);
  }
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.map(String).join(".") : "(root)";
  return `${path}: ${issue.message}`;
}
