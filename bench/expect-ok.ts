/** What one request that had to answer 200 returned: sizes and type only, never the body. */
export interface OkResponse {
  /** Body bytes, which the load generator must also read on every request. */
  bodyBytes: number;
  contentType: string;
}

/**
 * One request that must answer 200 (for the broker: the named provider's credential). Doubles as
 * the warm-up of a broker's cache before a load run.
 */
export async function expectOk(url: string, headers: Record<string, string>, what: string, provider?: string): Promise<OkResponse> {
  const response = await fetch(url, { headers });
  const raw = await response.text();
  let body: { provider?: unknown; code?: unknown } | undefined;
  try {
    body = JSON.parse(raw) as typeof body;
  } catch {
    body = undefined;
  }
  // Only status and error code are shown: a 200 body carries a credential.
  if (response.status !== 200) throw new Error(`${what}: expected 200, got ${response.status} (${String(body?.code ?? "no code")})`);
  if (provider !== undefined && body?.provider !== provider) throw new Error(`${what}: the 200 body is not a ${provider} credential`);
  return { bodyBytes: Buffer.byteLength(raw), contentType: response.headers.get("content-type") ?? "" };
}
