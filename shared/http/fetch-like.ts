/** The subset of the WHATWG fetch the broker uses; injected so tests can count and fault calls. */
export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;
