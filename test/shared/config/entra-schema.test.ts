import assert from "node:assert/strict";
import { test } from "node:test";
import { EntraProviderSchema } from "../../../shared/config/entra-schema.js";
import { parseConfig } from "../../../shared/config/load.js";

test("an entra provider needs exactly one of clientSecret and certificate", () => {
  const bad = {
    providers: { flowe: { kind: "entra", tenantId: "t", clientId: "c", scope: "api://p1-test/.default" } },
    issuers: {},
    callers: {},
  };
  assert.throws(() => parseConfig(JSON.stringify(bad)), /providers\.flowe\.clientSecret: exactly one of clientSecret or certificate/);
});

test("managed-identity-federation takes no secret or certificate, and federation settings go with it only", () => {
  const base = { kind: "entra", tenantId: "t", clientId: "c", scope: "api://p1-test/.default" };
  const federated = { ...base, clientAuth: "managed-identity-federation" };
  assert.equal(EntraProviderSchema.safeParse(federated).success, true);
  assert.equal(EntraProviderSchema.safeParse({ ...federated, clientSecret: { secret: "s" } }).success, false);
  assert.equal(EntraProviderSchema.safeParse({ ...federated, certificate: { secret: "c" } }).success, false);
  assert.equal(EntraProviderSchema.safeParse({ ...base, clientSecret: { secret: "s" }, federation: {} }).success, false);
  assert.equal(EntraProviderSchema.safeParse({ ...base, clientAuth: "certificate", clientSecret: { secret: "s" } }).success, false);
});
