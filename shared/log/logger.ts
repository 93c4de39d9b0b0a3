export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, string | number | boolean | null | undefined | string[]>;

/**
 * Structured logger. Events are stable snake_case names; fields are flat scalars. Callers must
 * never pass a secret or token value: pass `fingerprint(value)` instead. Errors go through
 * `errorFields`, which keeps class and code but drops messages that might quote a response body.
 */
export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
}

export type LineSink = (line: string) => void;

/** One JSON object per line: `time`, `level` and `event` first, then the fields (capped, see capFields). */
export class JsonLineLogger implements Logger {
  constructor(
    private readonly sink: LineSink,
    private readonly clock: { now(): number },
    private readonly minLevel: LogLevel = "info",
  ) {}

  log(level: LogLevel, event: string, fields?: LogFields): void {
    if (LEVEL_RANK[level] < LEVEL_RANK[this.minLevel]) return;
    const time = new Date(this.clock.now()).toISOString();
    this.sink(`${JSON.stringify({ time, level, event, ...(fields === undefined ? undefined : capFields(fields)) })}\n`);
  }
}

/** Collects records in memory; tests read `lines` to prove no canary value was ever logged. */
export class MemoryLogger implements Logger {
  readonly records: { level: LogLevel; event: string; fields: LogFields }[] = [];
  log(level: LogLevel, event: string, fields: LogFields = {}): void {
    this.records.push({ level, event, fields: capFields(fields) });
  }
  get lines(): string[] {
    return this.records.map((r) => JSON.stringify(r));
  }
  events(event: string): LogFields[] {
    return this.records.filter((r) => r.event === event).map((r) => r.fields);
  }
}

/** Longest string a log field keeps: request-derived text (names, ids from tokens) is never logged whole. */
export const MAX_LOG_FIELD_CHARS = 256;
/** Most entries a list field keeps. */
export const MAX_LOG_LIST_ENTRIES = 32;

/**
 * The one length rule for every log line: strings longer than MAX_LOG_FIELD_CHARS are cut (with
 * how much was cut), lists longer than MAX_LOG_LIST_ENTRIES too. JSON serialization already
 * escapes CR/LF and quotes, so a field cannot forge a line. Returns `fields` itself when nothing
 * needed cutting (the common case: no copy).
 */
export function capFields(fields: LogFields): LogFields {
  let capped: LogFields | undefined;
  for (const name in fields) {
    const value = fields[name];
    let cut: LogFields[string] = value;
    if (typeof value === "string" && value.length > MAX_LOG_FIELD_CHARS) {
      cut = capString(value);
    } else if (Array.isArray(value) && (value.length > MAX_LOG_LIST_ENTRIES || value.some((v) => v.length > MAX_LOG_FIELD_CHARS))) {
      cut = value.slice(0, MAX_LOG_LIST_ENTRIES).map(capString);
      if (value.length > MAX_LOG_LIST_ENTRIES) cut.push(`…(+${value.length - MAX_LOG_LIST_ENTRIES} more)`);
    }
    if (cut === value) continue;
    capped ??= { ...fields };
    capped[name] = cut;
  }
  return capped ?? fields;
}

function capString(value: string): string {
  return value.length <= MAX_LOG_FIELD_CHARS ? value : `${value.slice(0, MAX_LOG_FIELD_CHARS)}…(+${value.length - MAX_LOG_FIELD_CHARS} chars)`;
}

const LEVEL_RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * Log-safe description of an error: its class and stable code, plus the codes of its causes.
 * Messages are deliberately left out: SDK and fetch errors can quote URLs with query strings or
 * response bodies that contain credentials.
 */
export function errorFields(error: unknown): LogFields {
  const chain: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code;
      const serviceCode = (current as { serviceCode?: unknown }).serviceCode;
      const status = (current as { statusCode?: unknown }).statusCode;
      chain.push(
        [
          current.name,
          typeof code === "string" ? code : undefined,
          typeof serviceCode === "string" ? serviceCode : undefined,
          typeof status === "number" ? String(status) : undefined,
        ]
          .filter(Boolean)
          .join(":"),
      );
      current = (current as { cause?: unknown }).cause;
    } else {
      chain.push(typeof current);
      break;
    }
  }
  return { error: chain[0] ?? "unknown", error_chain: chain };
}
