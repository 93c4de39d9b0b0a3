import { readFileSync, statSync } from "node:fs";
import type { z } from "zod";
import { crossFieldProblems } from "./cross-field.js";
import { ConfigSchema, type BrokerConfig } from "./schema.js";
import { formatPath, scanJson } from "./strict-json.js";
import { BrokerError } from "../errors/broker-error.js";

/**
 * Parses configuration text. Every bad field is named, with its path, in one error so an operator
 * fixes the whole file in one go: duplicate keys and reserved names, each field's own rules and
 * the rules that span fields are all checked in the same run.
 */
export function parseConfig(text: string, source = "config"): BrokerConfig {
  const scanned = scanJson(text);
  if (scanned.syntax !== undefined) {
    throw new ConfigError(`${source}: not valid JSON (${scanned.syntax})`, [`(root): not valid JSON (${scanned.syntax})`]);
  }
  const problems = [...scanned.problems];
  // Parsed once per process: interpreting is cheaper than compiling zod's per-shape fast path (jit),
  // which costs most of a cold start's config validation and would never be used again.
  const result = ConfigSchema.safeParse(scanned.value, { jitless: true });
  if (!result.success) problems.push(...result.error.issues.map(formatIssue));
  for (const problem of crossFieldProblems(scanned.value)) {
    const line = `${formatPath(problem.path)}: ${problem.message}`;
    if (!problems.includes(line)) problems.push(line);
  }
  if (problems.length > 0 || !result.success) {
    throw new ConfigError(`${source}: ${problems.length} invalid field(s):\n  - ${problems.join("\n  - ")}`, problems);
  }
  return result.data;
}

/**
 * Reads and parses the configuration file at `path`. A path that is a directory, missing or
 * unreadable is named plainly (a start-up error, not a stack trace from deep inside the runtime).
 */
export function readConfigFile(path: string): BrokerConfig {
  return parseConfig(readConfigText(path), path);
}

/** The text of a configuration file; a missing path, a directory or an unreadable file is named plainly. */
export function readConfigText(path: string): string {
  try {
    if (statSync(path).isDirectory()) throw new ConfigError(`${path}: is a directory, not a configuration file`, [`${path}: is a directory`]);
    return readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as { code?: unknown }).code;
    const reason =
      code === "ENOENT" ? "no such file" : code === "EACCES" || code === "EPERM" ? "permission denied" : `cannot be read (${String(code ?? "error")})`;
    throw new ConfigError(`${path}: ${reason}`, [`${path}: ${reason}`]);
  }
}

/** A configuration that cannot run. A start-up error, never an HTTP answer. */
export class ConfigError extends BrokerError<"config_invalid"> {
  override readonly name = "ConfigError";
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super("config_invalid", message);
    this.message = message;
  }
}

function formatIssue(issue: z.core.$ZodIssue): string {
  return `${formatPath(issue.path)}: ${issue.message}`;
}
