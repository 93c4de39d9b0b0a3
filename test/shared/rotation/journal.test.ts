import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { acceptedVersion, journalSecretName, parseJournal, readJournal, withFailure } from "../../../shared/rotation/journal.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";

const at = "2026-11-23T12:00:00.000Z";

describe("rotation journal", () => {
  test("acceptedVersion pins only a probed operator version; otherwise the latest is served", () => {
    assert.equal(acceptedVersion(undefined), undefined);
    assert.equal(acceptedVersion({ v: 1, mode: "operator", acceptedVersion: "v1", pinned: true, failures: 0, needsAttention: false, updatedAt: at }), "v1");
    assert.equal(acceptedVersion({ v: 1, mode: "operator", acceptedVersion: "v1", pinned: false, failures: 0, needsAttention: false, updatedAt: at }), undefined);
    assert.equal(acceptedVersion({ v: 1, mode: "partner-api", phase: "done", failures: 0, needsAttention: false, updatedAt: at }), undefined);
  });

  test("readJournal finds the journal next to the key secret and returns undefined when none exists", async () => {
    const store = new MemorySecretStore();
    assert.equal(await readJournal(store, "k"), undefined);
    store.seed(journalSecretName("k"), JSON.stringify({ v: 1, mode: "operator", acceptedVersion: "abc", pinned: true, updatedAt: at }));
    const journal = await readJournal(store, "k");
    assert.equal(journalSecretName("k"), "k-rotation");
    assert.equal(acceptedVersion(journal), "abc");
    assert.equal(journal?.failures, 0);
  });

  test("withFailure records the error, counts an attempt, and stops automatic rotation at maxFailures", () => {
    const lastError = { code: "upstream_rejected", detail: "refused", at };
    const operator = { v: 1, mode: "operator", pinned: true, acceptedVersion: "v1", failures: 1, needsAttention: false, updatedAt: at } as const;
    assert.deepEqual(withFailure(operator, lastError, true, 3), { ...operator, failures: 2, needsAttention: false, lastError });
    assert.deepEqual(withFailure(operator, lastError, true, 2), { ...operator, failures: 2, needsAttention: true, lastError });
    assert.deepEqual(withFailure(operator, lastError, false, 2), { ...operator, failures: 1, needsAttention: false, lastError });
    const stopped = { v: 1, mode: "partner-api", phase: "idle", failures: 0, needsAttention: true, updatedAt: at } as const;
    assert.equal(withFailure(stopped, lastError, false, 3).needsAttention, true, "only a successful rotation clears the flag");
  });

  test("a corrupt journal is refused with an error that quotes none of its content", () => {
    const canary = `CANARY-${Math.random()}`;
    for (const text of [`{"newKey":{"secret":"${canary}"`, JSON.stringify({ v: 1, mode: "partner-api", phase: canary, newKey: { id: "x", secret: canary } })]) {
      assert.throws(
        () => parseJournal(text, "k-rotation"),
        (error: Error & { code?: string; cause?: unknown }) => {
          assert.equal(error.code, "secret_unavailable");
          assert.ok(!error.message.includes(canary));
          assert.equal(error.cause, undefined);
          return true;
        },
      );
    }
  });
});
