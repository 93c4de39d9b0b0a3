import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ApiKeyProviderSchema } from "../../../shared/config/api-key-schema.js";
import { HttpTokenProviderSchema } from "../../../shared/config/http-token-schema.js";
import type { ProviderConfig } from "../../../shared/config/schema.js";
import { journalSecretName } from "../../../shared/rotation/journal.js";
import { credentialsMadeWith, forgetReplacedKey } from "../../../shared/rotation/promotion.js";

const providers: Record<string, ProviderConfig> = {
  silverflow: ApiKeyProviderSchema.parse({ kind: "api-key", key: { secret: "silverflow-key" }, scheme: "header" }),
  minted: HttpTokenProviderSchema.parse({ kind: "http-token", url: "https://p.example/mint", authProvider: "silverflow" }),
  other: ApiKeyProviderSchema.parse({ kind: "api-key", key: { secret: "other-key" }, scheme: "header" }),
  mintedElsewhere: HttpTokenProviderSchema.parse({ kind: "http-token", url: "https://q.example/mint", authProvider: "other" }),
};

describe("key promotion", () => {
  test("credentials made with a key: the provider's own and those of http-token providers authenticating with it", () => {
    assert.deepEqual(credentialsMadeWith(providers, "silverflow"), ["silverflow", "minted"]);
    assert.deepEqual(credentialsMadeWith(providers, "minted"), ["minted"]);
  });

  test("forgets the cached key secret and journal, then every credential made with the old key, fleet-wide", async () => {
    const calls: string[] = [];
    const onPromoted = forgetReplacedKey(providers, {
      secrets: { invalidate: (name) => void calls.push(`secret:${name}`) },
      cache: {
        invalidate: async (name, options) => {
          calls.push(`tokens:${name}:${options.broadcast}`);
        },
      },
    });
    await onPromoted("silverflow");
    assert.deepEqual(calls, [
      "secret:silverflow-key",
      `secret:${journalSecretName("silverflow-key")}`,
      "tokens:silverflow:true",
      "tokens:minted:true",
    ]);
  });
});
