/**
 * Which credential fingerprints this instance served to which caller, so a rejected-credential
 * report can be told apart from a guess: a fingerprint never served to the caller is refused.
 * Written once per (credential, caller) — not per request — and bounded: the last few
 * fingerprints per caller and provider, for configured callers and providers only.
 */
const KEPT_PER_CALLER = 8;

export class ServedLedger {
  private readonly served = new Map<string, Map<string, string[]>>();

  record(caller: string, provider: string, fingerprint: string): void {
    let byCaller = this.served.get(provider);
    if (byCaller === undefined) {
      byCaller = new Map();
      this.served.set(provider, byCaller);
    }
    const list = byCaller.get(caller) ?? [];
    if (list.includes(fingerprint)) return;
    list.push(fingerprint);
    if (list.length > KEPT_PER_CALLER) list.shift();
    byCaller.set(caller, list);
  }

  wasServed(caller: string, provider: string, fingerprint: string): boolean {
    return this.served.get(provider)?.get(caller)?.includes(fingerprint) ?? false;
  }
}
