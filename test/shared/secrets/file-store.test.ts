import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { FileSecretStore } from "../../../shared/secrets/file-store.js";
import { SecretNotFoundError } from "../../../shared/secrets/secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";

const root = mkdtempSync(join(tmpdir(), "file-store-test-"));
after(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
function freshDir(): string {
  return join(root, `store-${++counter}`);
}

describe("FileSecretStore", () => {
  it("keeps every version with its tags and serves the newest by default", async () => {
    const clock = new ManualClock();
    const store = new FileSecretStore(freshDir(), { clock });
    const v1 = await store.set("partner-key", "one", { role: "current" });
    clock.advance(1000);
    const v2 = await store.set("partner-key", "two", { role: "next", rotation: "r-1" });
    clock.advance(1000);
    const v3 = await store.set("partner-key", "three");

    assert.match(v1.version, /^[0-9a-f]{32}$/);
    assert.equal(new Set([v1.version, v2.version, v3.version]).size, 3);
    const latest = await store.get("partner-key");
    assert.equal(latest.value, "three");
    assert.equal(latest.version, v3.version);
    assert.equal(latest.enabled, true);
    assert.equal(latest.createdOn, clock.now());

    const old = await store.get("partner-key", v2.version);
    assert.deepEqual(old, { name: "partner-key", version: v2.version, value: "two", tags: { role: "next", rotation: "r-1" }, createdOn: v2.createdOn, enabled: true });

    const versions = await store.listVersions("partner-key");
    assert.deepEqual(
      versions.map((v) => [v.version, v.tags]),
      [
        [v1.version, { role: "current" }],
        [v2.version, { role: "next", rotation: "r-1" }],
        [v3.version, {}],
      ],
    );
    assert.ok(versions.every((v) => !("value" in v)), "listVersions must not return values");
  });

  it("orders versions written in the same millisecond by write order", async () => {
    const clock = new ManualClock();
    const store = new FileSecretStore(freshDir(), { clock });
    const written = [];
    for (let i = 0; i < 5; i++) written.push(await store.set("same-ms", `value-${i}`));
    assert.equal((await store.get("same-ms")).value, "value-4");
    assert.deepEqual(
      (await store.listVersions("same-ms")).map((v) => v.version),
      written.map((w) => w.version),
    );
  });

  it("keeps the newest version last even when the clock steps back", async () => {
    const clock = new ManualClock();
    const store = new FileSecretStore(freshDir(), { clock });
    await store.set("clock-skew", "first");
    clock.advance(-60_000);
    await store.set("clock-skew", "second");
    assert.equal((await store.get("clock-skew")).value, "second");
  });

  it("throws SecretNotFoundError for a missing secret or version", async () => {
    const store = new FileSecretStore(freshDir(), { clock: new ManualClock() });
    await assert.rejects(store.get("never-written"), (e: unknown) => e instanceof SecretNotFoundError && e.code === "secret_unavailable");
    await store.set("written", "value");
    await assert.rejects(store.get("written", "0".repeat(32)), SecretNotFoundError);
    assert.deepEqual(await store.listVersions("never-written"), []);
  });

  it("rejects names Key Vault would reject, without echoing them", async () => {
    const store = new FileSecretStore(freshDir(), { clock: new ManualClock() });
    for (const name of ["../escape", "with_underscore", "", "a".repeat(128), "dot.name"]) {
      await assert.rejects(store.set(name, "v"), (e: unknown) => e instanceof BrokerError && e.code === "bad_request" && (name === "" || !e.message.includes(name)));
      await assert.rejects(store.get(name), (e: unknown) => e instanceof BrokerError && e.code === "bad_request");
    }
    await assert.rejects(store.get("fine", "../../etc/passwd"), (e: unknown) => e instanceof BrokerError && e.code === "bad_request");
  });

  it("treats names case-insensitively, like Key Vault", async () => {
    const store = new FileSecretStore(freshDir(), { clock: new ManualClock() });
    await store.set("Mixed-Case", "v1");
    assert.equal((await store.get("mixed-case")).value, "v1");
  });

  it("a corrupt newest version is secret_unavailable, never answered with the older version; the warning does not quote it", async () => {
    const dir = freshDir();
    const clock = new ManualClock();
    const logger = new MemoryLogger();
    const store = new FileSecretStore(dir, { clock, logger });
    const good = await store.set("corrupt-test", "good-value");
    const canary = `CANARY-${randomBytes(8).toString("hex")}`;
    // Newer than the good version: the newest version, which is authoritative.
    writeFileSync(join(dir, "corrupt-test", `${String(clock.now() + 5000).padStart(15, "0")}-000000-${"a".repeat(32)}.json`), `{"value":"${canary}"`, {
      mode: 0o600,
    });
    await assert.rejects(store.get("corrupt-test"), (e: unknown) => e instanceof BrokerError && e.code === "secret_unavailable" && !e.message.includes(canary));
    assert.equal((await store.get("corrupt-test", good.version)).value, "good-value", "a named version is still readable");
    assert.deepEqual((await store.listVersions("corrupt-test")).map((v) => v.version), [good.version]);
    await assert.rejects(store.get("corrupt-test", "a".repeat(32)), SecretNotFoundError);
    assert.ok(logger.events("secret_file_corrupt").length >= 1);
    assert.ok(logger.lines.every((l) => !l.includes(canary)));
  });

  it("a disabled newest version is secret_unavailable, as Key Vault's latest read is refused", async () => {
    const dir = freshDir();
    const clock = new ManualClock();
    const store = new FileSecretStore(dir, { clock });
    await store.set("disabled-test", "old");
    clock.advance(1000);
    const newest = await store.set("disabled-test", "new");
    const [file] = readdirSync(join(dir, "disabled-test")).filter((f) => f.includes(newest.version));
    const path = join(dir, "disabled-test", file!);
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), enabled: false }));
    await assert.rejects(store.get("disabled-test"), (e: unknown) => e instanceof BrokerError && e.code === "secret_unavailable");
  });

  it("a secret whose directory vanished after it was served is secret_unavailable (an outage), not missing", async () => {
    const dir = freshDir();
    const store = new FileSecretStore(dir, { clock: new ManualClock() });
    await store.set("vanishing", "v");
    assert.equal((await store.get("vanishing")).value, "v");
    rmSync(join(dir, "vanishing"), { recursive: true });
    await assert.rejects(store.get("vanishing"), (e: unknown) => e instanceof BrokerError && !(e instanceof SecretNotFoundError) && e.code === "secret_unavailable");
    rmSync(dir, { recursive: true });
    await assert.rejects(store.get("vanishing"), (e: unknown) => e instanceof BrokerError && !(e instanceof SecretNotFoundError));
    await assert.rejects(store.get("never-served"), SecretNotFoundError, "a secret never served is simply missing");
    await store.set("vanishing", "back");
    assert.equal((await store.get("vanishing")).value, "back");
  });

  it("loses no version when two store instances write the same secret concurrently", async () => {
    const dir = freshDir();
    const clock = new ManualClock(); // shared and frozen: every write lands in the same millisecond
    const a = new FileSecretStore(dir, { clock });
    const b = new FileSecretStore(dir, { clock });
    const writes = [];
    for (let i = 0; i < 40; i++) writes.push(a.set("shared", `a-${i}`), b.set("shared", `b-${i}`));
    const written = await Promise.all(writes);
    const versions = await a.listVersions("shared");
    assert.equal(versions.length, 80);
    assert.deepEqual(new Set(versions.map((v) => v.version)), new Set(written.map((w) => w.version)));
    for (const w of written.slice(0, 5)) assert.equal((await b.get("shared", w.version)).value, w.value);
  });

  it("loses no version when several processes write the same secret at once", async () => {
    const dir = freshDir();
    const moduleUrl = new URL("../../../shared/secrets/file-store.js", import.meta.url).href;
    const script = `
      const [moduleUrl, dir, prefix, count] = process.argv.slice(1);
      const { FileSecretStore } = await import(moduleUrl);
      const store = new FileSecretStore(dir, { clock: { now: () => Date.now() } });
      await Promise.all(Array.from({ length: Number(count) }, (_, i) => store.set("fleet", prefix + "-" + i)));
    `;
    const run = (prefix: string) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, ["--input-type=module", "-e", script, moduleUrl, dir, prefix, "25"], { stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`writer ${prefix} exited ${code}: ${stderr}`))));
      });
    await Promise.all([run("p1"), run("p2"), run("p3")]);
    const store = new FileSecretStore(dir, { clock: new ManualClock() });
    const versions = await store.listVersions("fleet");
    assert.equal(versions.length, 75);
    const values = await Promise.all(versions.map((v) => store.get("fleet", v.version).then((s) => s.value)));
    assert.equal(new Set(values).size, 75);
    assert.ok(readdirSync(join(dir, "fleet")).every((f) => !f.startsWith(".tmp-")), "no temp file may be left behind");
  });
});
