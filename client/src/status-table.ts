/** The operator status (`GET /api/ops/status`) as a readable table: one row per provider. */
export function formatStatusTable(status: unknown): string {
  const providers = ((status as { providers?: unknown })?.providers ?? []) as Array<Record<string, any>>;
  const header = ["PROVIDER", "STATE", "EXPIRES", "LAST ERROR", "CIRCUIT", "KEY AGE", "ROTATION", "NEXT DUE"];
  const rows = providers.map((p) => {
    const token = p.token ?? {};
    const rotation = p.rotation ?? {};
    return [
      String(p.provider ?? "?"),
      String(token.state ?? "-"),
      String(token.expires_at ?? "-"),
      token.last_error ? String(token.last_error.code) : rotation.error ? String(rotation.error.code) : "-",
      String(p.circuit ?? "-"),
      typeof rotation.keyAgeSec === "number" ? age(rotation.keyAgeSec) : "-",
      String(rotation.phase ?? "-"),
      String(rotation.nextDueAt ?? "-"),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

function age(seconds: number): string {
  if (seconds >= 86_400) return `${Math.floor(seconds / 86_400)}d`;
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m`;
  return `${seconds}s`;
}
