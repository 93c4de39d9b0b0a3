import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { acceptedVersion, journalSecretName, parseJournal, readJournal } from "../../../shared/rotation/journal.js";
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
