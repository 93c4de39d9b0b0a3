import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { publishOnce } from "../../dev/publish-once.js";

const dir = mkdtempSync(join(tmpdir(), "publish-once-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("publishOnce", () => {
  test("writes the file readable by its owner only and leaves no temporary file", () => {
    const file = join(dir, "fresh.json");
    publishOnce(file, "first");
    assert.equal(readFileSync(file, "utf8"), "first");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ["fresh.json"]);
  });

  test("keeps what an earlier writer published: the second writer's content is dropped, not swapped in", () => {
    const file = join(dir, "raced.json");
    publishOnce(file, "winner");
    publishOnce(file, "loser");
    assert.equal(readFileSync(file, "utf8"), "winner");
    assert.deepEqual(readdirSync(dir).sort(), ["fresh.json", "raced.json"]);
  });
});
