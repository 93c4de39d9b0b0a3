import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SecretFiles } from "../../../shared/secrets/secret-files.js";
import { ManualClock } from "../../support/manual-clock.js";

const root = mkdtempSync(join(tmpdir(), "secret-files-test-"));
after(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
function freshDir(): string {
  return join(root, `store-${++counter}`);
}

const posix = process.platform !== "win32";

/** Writes one version the way the store does: its slot first, then its file. */
async function writeVersion(files: SecretFiles, name: string, content: string): Promise<string> {
  const version = randomBytes(16).toString("hex");
  await files.write(name, await files.nextSlot(name), version, content);
  return version;
}

describe("SecretFiles", () => {
  it("creates its directories 0700 and version files 0600", { skip: !posix }, async () => {
    const dir = freshDir();
    const store = new SecretFiles(dir, { clock: new ManualClock() });
    await writeVersion(store, "perm-check", "value");
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const secretDir = join(dir, "perm-check");
    assert.equal(statSync(secretDir).mode & 0o777, 0o700);
    const files = readdirSync(secretDir);
    assert.equal(files.length, 1, "no temp file may be left behind");
    assert.equal(statSync(join(secretDir, files[0]!)).mode & 0o777, 0o600);
  });

  it("tightens an existing directory that group or others could read", { skip: !posix }, async () => {
    const dir = freshDir();
    mkdirSync(join(dir, "loose"), { recursive: true });
    chmodSync(dir, 0o755);
    chmodSync(join(dir, "loose"), 0o775);
    const store = new SecretFiles(dir, { clock: new ManualClock() });
    await writeVersion(store, "loose", "value");
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, "loose")).mode & 0o777, 0o700);
  });

  it("lists versions oldest first, never sorting a new one before the newest on disk, and ignores other files", async () => {
    const dir = freshDir();
    const clock = new ManualClock();
    const files = new SecretFiles(dir, { clock });
    const first = await writeVersion(files, "Ordered", "1");
    const sameMs = await writeVersion(files, "ordered", "2");
    clock.advance(-60_000);
    const clockBack = await writeVersion(files, "ordered", "3");
    writeFileSync(join(dir, "ordered", ".tmp-0123"), "half-written");
    writeFileSync(join(dir, "ordered", "notes.json"), "{}");

    const listed = await files.list("ORDERED");
    assert.deepEqual(
      listed.map((f) => f.version),
      [first, sameMs, clockBack],
    );
    assert.deepEqual(
      listed.map((f) => [f.createdOn, f.seq]),
      [
        [listed[0]!.createdOn, 0],
        [listed[0]!.createdOn, 1],
        [listed[0]!.createdOn, 2],
      ],
    );
    assert.equal(await files.read("ordered", listed[2]!), "3");
    assert.deepEqual(await files.list("never-written"), []);
  });
});
