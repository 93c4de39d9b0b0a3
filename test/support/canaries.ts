/**
 * Secret values to search logs and responses for. JSON secrets ({"id","secret"}) contribute their
 * secret only: a key id is a public identifier that status output rightly shows.
 */
export function secretCanaries(values: Iterable<string>): string[] {
  const out: string[] = [];
  for (const value of values) {
    if (value.startsWith("{")) {
      const parsed = JSON.parse(value) as { secret?: string };
      if (parsed.secret) out.push(parsed.secret);
    } else {
      out.push(value);
    }
  }
  return out;
}
