/**
 * A response body parsed as JSON, typed loosely for assertions. Without the DOM library, Node's
 * Response.json() is `Promise<unknown>`; tests that poke at problem and token bodies use this.
 */
export function jsonBody(res: Response): Promise<any> {
  return res.json();
}
