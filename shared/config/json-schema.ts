import { z } from "zod";
import { ConfigSchema } from "./schema.js";

/**
 * JSON Schema of the configuration file, generated from the zod schema so the two cannot drift
 * (a test compares it with the committed broker.config.schema.json). "input" mode: fields with
 * defaults are optional for the person writing the file.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ConfigSchema, { io: "input", unrepresentable: "any", target: "draft-2020-12" });
  return {
    ...schema,
    $id: "https://token-broker.local/broker.config.schema.json",
    title: "Token broker configuration",
  };
}

export function configJsonSchemaText(): string {
  return JSON.stringify(configJsonSchema(), null, 2) + "\n";
}
