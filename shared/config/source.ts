import { existsSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { BrokerEnv } from "./env.js";
import { ConfigError, readConfigText } from "./load.js";

/** The configuration text and where it came from (named in every error about it). */
export interface ConfigSource {
  text: string;
  source: string;
}

/**
 * Reads the configuration from `BROKER_CONFIG_JSON` (the JSON itself, in an app setting) or from
 * the file `BROKER_CONFIG` names. A relative path is resolved against `appRoot`, the function app
 * root: the working directory of the worker is the host's business, not the app's.
 */
export function readConfigSource(env: Pick<BrokerEnv, "BROKER_CONFIG" | "BROKER_CONFIG_JSON">, appRoot: string | undefined): ConfigSource {
  if (env.BROKER_CONFIG_JSON !== undefined) return { text: env.BROKER_CONFIG_JSON, source: "BROKER_CONFIG_JSON" };
  const setting = env.BROKER_CONFIG;
  if (setting === undefined) {
    throw new ConfigError("No configuration: set BROKER_CONFIG or BROKER_CONFIG_JSON.", ["BROKER_CONFIG"]);
  }
  const path = resolveConfigPath(setting, appRoot);
  try {
    return { text: readConfigText(path), source: path };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const relative = isAbsolute(setting) ? "" : " (relative paths are resolved against the function app root)";
    throw new ConfigError(
      `BROKER_CONFIG=${setting}: ${error.message}${relative}. Deploy the file with the app, or put the configuration in BROKER_CONFIG_JSON.`,
      ["BROKER_CONFIG"],
    );
  }
}

/** BROKER_CONFIG as an absolute path: a relative one is taken from the function app root. */
export function resolveConfigPath(setting: string, appRoot: string | undefined): string {
  if (isAbsolute(setting)) return setting;
  if (appRoot === undefined) {
    throw new ConfigError(`BROKER_CONFIG=${setting} is relative and no function app root is known to resolve it against.`, ["BROKER_CONFIG"]);
  }
  return resolve(appRoot, setting);
}

/**
 * The function app root: the nearest directory at or above `from` holding `host.json`, which is
 * where the Functions host runs the app from (`/home/site/wwwroot` in Azure). Undefined when
 * there is none (a module loaded outside any function app).
 */
export function findAppRoot(from: string, exists: (path: string) => boolean = existsSync): string | undefined {
  let dir = resolve(from);
  for (;;) {
    if (exists(join(dir, "host.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
