/**
 * Bounds a map used as a cache by deleting its first-inserted keys until at most `maxSize`
 * remain: a Map iterates in insertion order, so its first key is its oldest entry.
 */
export function evictOldest<K, V>(map: Map<K, V>, maxSize: number): void {
  while (map.size > maxSize) {
    const oldest = map.keys().next();
    if (oldest.done) break;
    map.delete(oldest.value);
  }
}
