/**
 * Credentials end up in headers the caller sends: a CR, LF, NUL or other control character in one
 * would split or truncate that header. Every credential read from outside is checked here.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_CHARACTER = /[\x00-\x1f\x7f]/;

/** A non-empty value without control characters (for zod's `.regex`). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
export const HEADER_SAFE = /^[^\x00-\x1f\x7f]+$/;

export function hasControlCharacter(text: string): boolean {
  return CONTROL_CHARACTER.test(text);
}
