import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { test } from "node:test";
import { parseConfig } from "../../shared/config/load.js";

const PATH = "config/broker.config.example.json";
const text = readFileSync(PATH, "utf8");

test("the example configuration validates against the configuration schema", () => {
  const config = parseConfig(text, PATH);
  assert.ok(Object.keys(config.callers).length > 0 && Object.keys(config.issuers).length > 0);
});

test("the example points editors at the generated JSON Schema", () => {
  const raw = JSON.parse(text) as { $schema?: string };
  assert.equal(typeof raw.$schema, "string");
  assert.ok(existsSync(resolve(dirname(PATH), raw.$schema!)), `${raw.$schema} exists next to the example`);
  assert.equal(resolve(dirname(PATH), raw.$schema!), resolve("broker.config.schema.json"));
});

test("the example shows every provider kind and rotation mode", () => {
  const config = parseConfig(text, PATH);
  const flavours = new Set<string>();
  for (const provider of Object.values(config.providers)) {
    flavours.add(provider.kind === "api-key" ? `api-key/${provider.scheme}` : provider.kind);
    if (provider.kind === "api-key" && provider.rotation) flavours.add(`rotation/${provider.rotation.mode}`);
  }
  assert.deepEqual(
    [...flavours].sort(),
    ["api-key/basic", "api-key/header", "entra", "http-token", "oauth2", "rotation/operator", "rotation/partner-api"],
  );
});

test("the example holds placeholders and secret references, never a value to keep", () => {
  const raw = JSON.parse(text) as { providers: Record<string, Record<string, unknown>>; callers: Record<string, { id?: string }> };
  for (const [name, provider] of Object.entries(raw.providers)) {
    for (const field of ["clientSecret", "key", "certificate"]) {
      const value = provider[field];
      if (value !== undefined) assert.deepEqual(Object.keys(value as object), ["secret"], `${name}.${field} is a secret reference`);
    }
    for (const field of ["tenantId", "clientId"]) {
      if (provider[field] !== undefined && name !== "ayyeka") assert.match(String(provider[field]), /^<[A-Z_]+>$/, `${name}.${field}`);
    }
  }
  for (const [name, caller] of Object.entries(raw.callers)) assert.match(caller.id ?? "", /^<[A-Z_]+>$/, `callers.${name}.id`);
});
