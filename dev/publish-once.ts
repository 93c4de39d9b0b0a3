import { randomUUID } from "node:crypto";
import { chmodSync, linkSync, unlinkSync, writeFileSync } from "node:fs";

/**
 * Writes `content` to `file` (mode 0600) unless the file exists, never leaving a partial one: it is
 * written aside and linked into place. link() fails if the file exists, so of two processes creating
 * the same file at the same moment one wins, and both then read what it wrote.
 */
export function publishOnce(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600); // the umask can only remove bits, but be explicit about the final mode
  try {
    linkSync(tmp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    unlinkSync(tmp);
  }
}
