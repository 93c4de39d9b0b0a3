import { test } from "node:test";
import assert from "node:assert/strict";
import { parseEnv } from "../../../shared/config/env.js";

test("empty app settings count as unset", () => {
  const env = parseEnv({ BROKER_CONFIG: "c.json", KEY_VAULT_URL: "", REDIS_URL: "" });
  assert.equal(env.KEY_VAULT_URL, undefined);
  assert.equal(env.REDIS_URL, undefined);
  assert.equal(env.MAINTENANCE_SCHEDULE, "0 */5 * * * *");
});

test("bad settings are named, not thrown as TypeErrors", () => {
  assert.throws(
    () => parseEnv({ BROKER_CONFIG: "c.json", KEY_VAULT_URL: "http://vault", REDIS_URL: "garbage" }),
    /KEY_VAULT_URL: KEY_VAULT_URL must be an https URL[\s\S]*REDIS_URL: REDIS_URL must be a redis/,
  );
  assert.throws(() => parseEnv({}), /BROKER_CONFIG/);
  // A bad setting and a missing configuration are named together.
  assert.throws(() => parseEnv({ KEY_VAULT_URL: "http://vault" }), (e: Error) => /KEY_VAULT_URL/.test(e.message) && /BROKER_CONFIG/.test(e.message));
});

test("the emulator switch accepts true/false", () => {
  assert.equal(parseEnv({ BROKER_CONFIG: "c", KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: "true" }).KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION, true);
  assert.equal(parseEnv({ BROKER_CONFIG: "c" }).KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION, false);
});
