import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { configJsonSchemaText } from "../../../shared/config/json-schema.js";

test("the committed broker.config.schema.json matches the zod schema (run npm run config-schema)", () => {
  const committed = readFileSync("broker.config.schema.json", "utf8");
  assert.equal(committed, configJsonSchemaText());
});

test("the JSON Schema marks secret fields as references, not strings", () => {
  const schema = JSON.parse(configJsonSchemaText());
  const text = JSON.stringify(schema);
  assert.match(text, /"secret"/);
  assert.equal(schema.type, "object");
  assert.deepEqual(schema.required.sort(), ["callers", "issuers", "providers"]);
});
