import assert from "node:assert/strict";
import { test } from "node:test";
import { ServedLedger } from "../../../shared/broker/served-ledger.js";

test("remembers what was served per caller and provider, and only the last eight fingerprints", () => {
  const ledger = new ServedLedger();
  ledger.record("orders", "ayyeka", "sha256:000000000000");
  assert.equal(ledger.wasServed("orders", "ayyeka", "sha256:000000000000"), true);
  assert.equal(ledger.wasServed("payments", "ayyeka", "sha256:000000000000"), false, "another caller");
  assert.equal(ledger.wasServed("orders", "flowe", "sha256:000000000000"), false, "another provider");
  for (let i = 1; i <= 8; i++) ledger.record("orders", "ayyeka", `sha256:00000000000${i}`);
  ledger.record("orders", "ayyeka", "sha256:000000000008");
  assert.equal(ledger.wasServed("orders", "ayyeka", "sha256:000000000000"), false, "the oldest is forgotten");
  assert.equal(ledger.wasServed("orders", "ayyeka", "sha256:000000000001"), true);
});
