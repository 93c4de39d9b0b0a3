/**
 * `text` parsed as JSON, or undefined when it is not JSON (a JSON value is never undefined), for
 * input from outside that a schema checks next. The parse error is dropped on purpose: V8's message
 * quotes the input, which may hold a secret.
 */
export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
