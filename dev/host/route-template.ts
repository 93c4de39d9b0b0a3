/**
 * Azure Functions (ASP.NET Core) route templates, the subset function apps use: literal segments
 * (case-insensitive), `{name}`, optional `{name?}`, defaults `{name=value}`, constraints
 * `{name:int}` (int, long, bool, guid, alpha, minlength(n), maxlength(n), length(n)), catch-all
 * `{*rest}` / `{**rest}`, and complex segments like `{file}.{ext}`. Everything, including the
 * regular expressions of complex segments and constraints, is compiled once here; matching a
 * request is string comparison plus one pass over its segments.
 */

type Constraint = (value: string) => boolean;

interface ParamSpec {
  name: string;
  optional: boolean;
  defaultValue: string | undefined;
  constraints: Constraint[];
}

type Segment =
  | { kind: "literal"; text: string; lower: string }
  | ({ kind: "param" } & ParamSpec)
  | { kind: "catchAll"; name: string }
  | { kind: "complex"; pattern: RegExp; params: ParamSpec[] };

/** Lower sorts first: literal, complex, constrained param, param, optional param, catch-all. */
const RANK = { literal: 1, complex: 2, constrained: 3, param: 4, optional: 5, catchAll: 6 } as const;

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
    this.ranks = this.segments.map(rankOf);
    const names = new Set<string>();
    for (const name of this.segments.flatMap(paramNames)) {
      const key = name.toLowerCase();
      if (names.has(key)) throw new Error(`route "${template}" uses parameter "${name}" twice`);
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
      if (seg.kind === "catchAll") {
        if (i < path.length) params[seg.name] = path.slice(i).join("/");
        return params;
      }
      const value = path[i];
      if (value === undefined) {
        // Missing trailing segments are fine only when every remaining one is optional.
        for (let j = i; j < n; j++) {
          const rest = segments[j] as Segment;
          if (rest.kind === "param" && (rest.optional || rest.defaultValue !== undefined)) {
            if (rest.defaultValue !== undefined) params[rest.name] = rest.defaultValue;
          } else if (rest.kind !== "catchAll") return undefined;
        }
        return params;
      }
      switch (seg.kind) {
        case "literal":
          if (value !== seg.text && (value.length !== seg.lower.length || value.toLowerCase() !== seg.lower)) return undefined;
          break;
        case "param":
          if (value === "" || !passes(seg.constraints, value)) return undefined;
          params[seg.name] = value;
          break;
        case "complex": {
          const m = seg.pattern.exec(value);
          if (!m) return undefined;
          for (let k = 0; k < seg.params.length; k++) {
            const spec = seg.params[k] as ParamSpec;
            const v = m[k + 1] ?? "";
            if (!passes(spec.constraints, v)) return undefined;
            params[spec.name] = v;
          }
          break;
        }
      }
    }
    return path.length === n ? params : undefined;
  }
}

/** Orders routes the way ASP.NET does in spirit: more specific segments win, left to right. */
export function compareRoutes(a: RouteTemplate, b: RouteTemplate): number {
  const n = Math.max(a.ranks.length, b.ranks.length);
  for (let i = 0; i < n; i++) {
    // A missing segment sorts after any real one: "a/b" before "a".
    const ra = a.ranks[i] ?? 7;
    const rb = b.ranks[i] ?? 7;
    if (ra !== rb) return ra - rb;
  }
  return 0;
}

function passes(constraints: Constraint[], value: string): boolean {
  for (const c of constraints) if (!c(value)) return false;
  return true;
}

function rankOf(seg: Segment): number {
  switch (seg.kind) {
    case "literal":
      return RANK.literal;
    case "complex":
      return RANK.complex;
    case "catchAll":
      return RANK.catchAll;
    case "param":
      if (seg.optional || seg.defaultValue !== undefined) return RANK.optional;
      return seg.constraints.length > 0 ? RANK.constrained : RANK.param;
  }
}

function paramNames(seg: Segment): string[] {
  switch (seg.kind) {
    case "literal":
      return [];
    case "param":
    case "catchAll":
      return [seg.name];
    case "complex":
      return seg.params.map((p) => p.name);
  }
}

function parseSegment(part: string, template: string, isLast: boolean): Segment {
  const fail = (why: string): never => {
    throw new Error(`invalid route "${template}": segment "${part}" ${why}`);
  };
  if (part === "") fail("is empty");
  if (!part.includes("{")) {
    if (part.includes("}")) fail("has an unmatched '}'");
    return { kind: "literal", text: part, lower: part.toLowerCase() };
  }
  const whole = /^\{([^{}]+)\}$/.exec(part);
  if (whole) {
    const body = whole[1] as string;
    if (body.startsWith("*")) {
      if (!isLast) fail("is a catch-all but not the last segment");
      const name = body.replace(/^\*\*?/, "").replace(/\?$/, "");
      if (!/^\w+$/.test(name)) fail("has a bad parameter name");
      return { kind: "catchAll", name };
    }
    return { kind: "param", ...parseParam(body, fail) };
  }
  // Complex segment: literals and parameters mixed, e.g. "{name}.{ext}" or "v{version}".
  const params: ParamSpec[] = [];
  let source = "^";
  let rest = part;
  while (rest.length > 0) {
    const open = rest.indexOf("{");
    if (open < 0) {
      if (rest.includes("}")) fail("has an unmatched '}'");
      source += escapeRegExp(rest);
      break;
    }
    const literal = rest.slice(0, open);
    if (literal.includes("}")) fail("has an unmatched '}'");
    source += escapeRegExp(literal);
    const close = rest.indexOf("}", open);
    if (close < 0) fail("has an unmatched '{'");
    const spec = parseParam(rest.slice(open + 1, close), fail);
    if (spec.optional || spec.defaultValue !== undefined) fail("has an optional parameter inside a complex segment");
    params.push(spec);
    // Lazy groups, so "{name}.{ext}" splits "a.b.c" at the last dot like ASP.NET.
    source += params.length === 1 && open === 0 ? "(.+)" : "(.+?)";
    rest = rest.slice(close + 1);
  }
  source += "$";
  return { kind: "complex", pattern: new RegExp(source, "i"), params };
}

function parseParam(body: string, fail: (why: string) => never): ParamSpec {
  let text = body;
  let defaultValue: string | undefined;
  const eq = text.indexOf("=");
  if (eq >= 0) {
    defaultValue = text.slice(eq + 1);
    text = text.slice(0, eq);
  }
  let optional = false;
  if (text.endsWith("?")) {
    optional = true;
    text = text.slice(0, -1);
  }
  const [name = "", ...constraintTexts] = text.split(":");
  if (!/^\w+$/.test(name)) fail(`has a bad parameter name "${name}"`);
  return { name, optional, defaultValue, constraints: constraintTexts.map((c) => constraint(c, fail)) };
}

const INT = /^-?\d+$/;
const GUID = /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i;
const ALPHA = /^[a-z]+$/i;
const BOOL = /^(true|false)$/i;

function constraint(text: string, fail: (why: string) => never): Constraint {
  const call = /^(\w+)\((\d+)\)$/.exec(text);
  if (call) {
    const n = Number(call[2]);
    switch (call[1]?.toLowerCase()) {
      case "minlength":
        return (v) => v.length >= n;
      case "maxlength":
        return (v) => v.length <= n;
      case "length":
        return (v) => v.length === n;
    }
  }
  switch (text.toLowerCase()) {
    case "int":
      return (v) => INT.test(v) && Math.abs(Number(v)) <= 2 ** 31;
    case "long":
      return (v) => INT.test(v);
    case "bool":
      return (v) => BOOL.test(v);
    case "guid":
      return (v) => GUID.test(v);
    case "alpha":
      return (v) => ALPHA.test(v);
  }
  return fail(`uses an unsupported constraint "${text}"`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
