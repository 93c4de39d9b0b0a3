import assert from "node:assert/strict";
import { test } from "node:test";
import { evictOldest } from "../../shared/evict-oldest.js";

test("evictOldest deletes the first-inserted keys until the map is within its bound", () => {
  const map = new Map([
    ["a", 1],
    ["b", 2],
    ["c", 3],
    ["d", 4],
  ]);
  map.delete("b");
  map.set("b", 5); // re-inserted: now the newest
  evictOldest(map, 2);
  assert.deepEqual([...map.keys()], ["d", "b"]);
  evictOldest(map, 2);
  assert.deepEqual([...map.keys()], ["d", "b"]);
  evictOldest(map, 0);
  assert.equal(map.size, 0);
});
