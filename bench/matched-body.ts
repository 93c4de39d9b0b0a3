/**
 * The matched baseline's settings, passed from the bench to the trivial host process through its
 * environment: the size and content-type of a real (b) token response.
 */
export const MATCHED_BODY_BYTES_ENV = "BENCH_MATCHED_BODY_BYTES";
export const MATCHED_CONTENT_TYPE_ENV = "BENCH_MATCHED_CONTENT_TYPE";

/**
 * A JSON object of exactly `bytes` bytes (ASCII only, so characters = bytes): the shape of a small
 * response padded with one string field.
 */
export function paddedJsonBody(bytes: number): string {
  const skeleton = JSON.stringify({ status: "ok", served_by: "trivial-matched", padding: "" });
  const missing = bytes - Buffer.byteLength(skeleton);
  if (missing < 0) throw new Error(`a matched body must be at least ${Buffer.byteLength(skeleton)} bytes, asked for ${bytes}`);
  return JSON.stringify({ status: "ok", served_by: "trivial-matched", padding: "x".repeat(missing) });
}
