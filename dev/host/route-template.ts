/**
 * Azure Functions (ASP.NET Core) route templates, as far as the local host emulates them: literal
 * segments (case-insensitive), whole-segment parameters `{name}` and a trailing optional `{name?}`.
 * The app's routes use literals and `{name}` only. Every other form ASP.NET accepts (constraints
 * `{id:int}`, defaults `{n=1}`, catch-alls `{*rest}`, complex segments `{name}.{ext}`) is refused
 * with a message naming it, rather than served with semantics that might differ from Azure's.
 * function-validation.ts first applies ASP.NET's own template rules (aspnet-route-rules.ts).
 */

type Segment = { kind: "literal"; text: string; lower: string } | { kind: "param"; name: string; optional: boolean };

/** Lower sorts first: literal, param, optional param. */
const RANK = { literal: 1, param: 2, optional: 3 } as const;

const EMULATED = "the local host emulates literal segments, {name} and a trailing {name?}";

export class RouteTemplate {
  readonly template: string;
  /** Per-segment precedence ranks; see `compareRoutes`. */
  readonly ranks: readonly number[];
  private readonly segments: Segment[];

  constructor(template: string) {
    this.template = template;
    const trimmed = template.replace(/^\/+|\/+$/g, "");
    const parts = trimmed === "" ? [] : trimmed.split("/");
    this.segments = parts.map((part, i) => parseSegment(part, template, i === parts.length - 1));
    this.ranks = this.segments.map((s) => (s.kind === "literal" ? RANK.literal : s.optional ? RANK.optional : RANK.param));
    const names = new Set<string>();
    for (const seg of this.segments) {
      if (seg.kind !== "param") continue;
      const key = seg.name.toLowerCase();
      if (names.has(key)) throw new Error(`route "${template}" uses parameter "${seg.name}" twice`);
      names.add(key);
    }
  }

  /**
   * Matches decoded path segments (after the route prefix). Returns the route parameters or
   * undefined. Empty segments never satisfy a parameter.
   */
  match(path: readonly string[]): Record<string, string> | undefined {
    const params: Record<string, string> = {};
    const segments = this.segments;
    const n = segments.length;
    for (let i = 0; i < n; i++) {
      const seg = segments[i] as Segment;
      const value = path[i];
      // A missing trailing segment is fine only for the optional parameter (always the last).
      if (value === undefined) return seg.kind === "param" && seg.optional ? params : undefined;
      if (seg.kind === "literal") {
        if (value !== seg.text && (value.length !== seg.lower.length || value.toLowerCase() !== seg.lower)) return undefined;
        continue;
      }
      if (value === "") return undefined;
      params[seg.name] = value;
    }
    return path.length === n ? params : undefined;
  }
}

/** Orders routes the way ASP.NET does in spirit: more specific segments win, left to right. */
export function compareRoutes(a: RouteTemplate, b: RouteTemplate): number {
  const n = Math.max(a.ranks.length, b.ranks.length);
  for (let i = 0; i < n; i++) {
    // A missing segment sorts after any real one: "a/b" before "a".
    const ra = a.ranks[i] ?? 4;
    const rb = b.ranks[i] ?? 4;
    if (ra !== rb) return ra - rb;
  }
  return 0;
}

function parseSegment(part: string, template: string, isLast: boolean): Segment {
  const fail = (why: string): never => {
    throw new Error(`invalid route "${template}": segment "${part}" ${why}`);
  };
  if (part === "") fail("is empty");
  if (!part.includes("{") && !part.includes("}")) return { kind: "literal", text: part, lower: part.toLowerCase() };
  const whole = /^\{([^{}]*)\}$/.exec(part);
  if (!whole) {
    if (/^[^{}]*(\{[^{}]*\}[^{}]*)+$/.test(part)) fail(`is a complex segment (literals and parameters mixed); ${EMULATED}`);
    fail("has an unmatched '{' or '}'");
  }
  const body = (whole as RegExpExecArray)[1] as string;
  if (body.startsWith("*")) fail(`is a catch-all parameter; ${EMULATED}`);
  if (body.includes("=")) fail(`has a default value; ${EMULATED}`);
  const optional = body.endsWith("?");
  const text = optional ? body.slice(0, -1) : body;
  if (text.includes(":")) fail(`has a constraint ("${text.slice(text.indexOf(":"))}"); ${EMULATED}`);
  if (!/^\w+$/.test(text)) fail(`has a bad parameter name "${text}"`);
  if (optional && !isLast) fail(`is an optional parameter before the last segment; ${EMULATED}`);
  return { kind: "param", name: text, optional };
}
