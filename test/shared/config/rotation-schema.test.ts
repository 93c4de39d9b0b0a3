import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, parseConfig } from "../../../shared/config/load.js";

test("a key API base URL that is no URL is named as a bad field, not thrown as a TypeError", () => {
  const config = {
    providers: {
      silverflow: {
        kind: "api-key",
        scheme: "basic",
        key: { secret: "silverflow-api-key" },
        rotation: { mode: "partner-api", keyApi: { preset: "silverflow", baseUrl: "https://<SILVERFLOW_API_HOST>" } },
      },
    },
    issuers: {},
    callers: {},
  };
  assert.throws(
    () => parseConfig(JSON.stringify(config), "config.json"),
    (error: unknown) => error instanceof ConfigError && /providers\.silverflow\.rotation\.keyApi\.baseUrl: must be an http\(s\) URL/.test(error.message),
  );
});
