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

/**
 * One JSON object per line, cheap enough for the per-request audit line on the hot path: the
 * `{"time","level","event"` head is built once per millisecond and event, and a frozen fields
 * object is serialized once for its whole life (the token service passes the same frozen audit
 * fields for every hit of a caller on a credential).
 */
export class JsonLineLogger implements Logger {
  private lastMs = Number.NaN;
  private lastTime = "";
  private headLevel: LogLevel | undefined;
  private headEvent: string | undefined;
  private head = "";
  /** `,"field":value...}` per frozen fields object; a WeakMap, so it dies with the object. */
  private readonly frozenTails = new WeakMap<LogFields, string>();

  constructor(
    private readonly sink: LineSink,
    private readonly clock: { now(): number },
    private readonly minLevel: LogLevel = "info",
  ) {}

  log(level: LogLevel, event: string, fields?: LogFields): void {
    if (LEVEL_RANK[level] < LEVEL_RANK[this.minLevel]) return;
    const now = this.clock.now();
    if (now !== this.lastMs || level !== this.headLevel || event !== this.headEvent) {
      if (now !== this.lastMs) {
        this.lastMs = now;
        this.lastTime = new Date(now).toISOString();
      }
      this.headLevel = level;
      this.headEvent = event;
      this.head = `{"time":"${this.lastTime}","level":"${level}","event":${JSON.stringify(event)}`;
    }
    this.sink(this.head + (fields === undefined ? "}" : this.tail(fields)) + "\n");
  }

  /** Same JSON as stringifying {time, level, event, ...fields}, without building that object. */
  private tail(fields: LogFields): string {
    // Only a frozen object is known not to change after it was serialized (callers freeze flat
    // records of scalars, like the audit fields; a frozen object holding an array is their bug).
    const frozen = Object.isFrozen(fields);
    if (frozen) {
      const known = this.frozenTails.get(fields);
      if (known !== undefined) return known;
    }
    const json = JSON.stringify(capFields(fields));
    const tail = json === "{}" ? "}" : "," + json.slice(1);
    if (frozen) this.frozenTails.set(fields, tail);
    return tail;
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
