/**
 * The route templates ASP.NET Core refuses, with its own messages. The Functions host parses every
 * HTTP trigger's route with `TemplateParser.Parse` while indexing it (HttpTriggerAttributeBindingProvider
 * in Azure/azure-webjobs-sdk-extensions) and again, prefixed with `api/`, when it maps the route
 * (WebJobsRouteBuilder.MapFunctionRoute -> `new Route(...)`); a refused template leaves the function
 * unloaded. The rules follow Microsoft.AspNetCore.Routing's RoutePatternParser, the messages its
 * Resources.resx (dotnet/aspnetcore src/Http/Routing).
 *
 * This only rejects: what it lets through is then parsed by route-template.ts, which supports a
 * smaller language than ASP.NET and refuses the rest itself (the local host may be stricter than
 * Azure, never looser).
 */
export const ASPNET_MESSAGES = {
  invalidRouteTemplate: "The route template cannot start with a '~' character unless followed by a '/'.",
  consecutiveSeparators:
    "The route template separator character '/' cannot appear consecutively. It must be separated by either a parameter or a literal value.",
  mismatchedParameter: "There is an incomplete parameter in the route template. Check that each '{' character has a matching '}' character.",
  unescapedBrace: "In a route parameter, '{' and '}' must be escaped with '{{' and '}}'.",
  catchAllCannotBeOptional: "A catch-all parameter cannot be marked optional.",
  optionalCannotHaveDefault: "An optional parameter cannot have default value.",
  catchAllInMultiSegment:
    "A path segment that contains more than one section, such as a literal section or a parameter, cannot contain a catch-all parameter.",
  consecutiveParameters: "A path segment cannot contain two consecutive parameters. They must be separated by a '/' or by a literal string.",
  catchAllMustBeLast: "A catch-all parameter can only appear as the last segment of the route template.",
  invalidParameterName: (name: string) =>
    `The route parameter name '${name}' is invalid. Route parameter names must be non-empty and cannot contain these characters: ` +
    "'{', '}', '/'. The '?' character marks a parameter as optional, and can occur only at the end of the parameter. " +
    "The '*' character marks a parameter as catch-all, and can occur only at the start of the parameter.",
  repeatedParameter: (name: string) => `The route parameter name '${name}' appears more than one time in the route template.`,
  invalidLiteral: (literal: string) => `The literal section '${literal}' is invalid. Literal sections cannot contain the '?' character.`,
  optionalPrecededByPeriod: (segment: string, name: string, previous: string) =>
    `In the segment '${segment}', the optional parameter '${name}' is preceded by an invalid segment '${previous}'. ` +
    "Only a period (.) can precede an optional parameter.",
  optionalMustBeLast: (segment: string, name: string, next: string) =>
    `An optional parameter must be at the end of the segment. In the segment '${segment}', optional parameter '${name}' is followed by '${next}'.`,
  unresolvedConstraint: (parameter: string, constraint: string, template: string) =>
    `The constraint entry '${parameter}' - '${constraint}' on the route '${template}' could not be resolved by the constraint resolver of type 'DefaultInlineConstraintResolver'.`,
} as const;

/** ASP.NET Core 2.2's DefaultInlineConstraintResolver map (the host's Microsoft.AspNetCore.Routing 2.2). */
const KNOWN_CONSTRAINTS = new Set([
  "int", "bool", "datetime", "decimal", "double", "float", "guid", "long",
  "minlength", "maxlength", "length", "min", "max", "range", "alpha", "regex", "required",
]);

const INVALID_NAME_CHARS = /[/{}?*]/;

type Part =
  | { kind: "literal"; text: string }
  | { kind: "param"; text: string; name: string; catchAll: boolean; optional: boolean; constraints: string[] };

/** The message ASP.NET Core gives for this template, or undefined if it accepts it. */
export function aspnetRouteTemplateError(pattern: string): string | undefined {
  let text = pattern;
  if (text.startsWith("~/")) text = text.slice(2);
  else if (text.startsWith("/")) text = text.slice(1);
  else if (text.startsWith("~")) return ASPNET_MESSAGES.invalidRouteTemplate;

  const names = new Set<string>();
  const segments: Part[][] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === "/") return ASPNET_MESSAGES.consecutiveSeparators;
    const start = i;
    const parts: Part[] = [];
    while (i < text.length && text[i] !== "/") {
      const scanned = text[i] === "{" && text[i + 1] !== "{" ? scanParameter(text, i + 1) : scanLiteral(text, i);
      if (typeof scanned === "string") return scanned;
      const part = scanned.part;
      if (part.kind === "param") {
        const key = part.name.toLowerCase();
        if (names.has(key)) return ASPNET_MESSAGES.repeatedParameter(part.name);
        names.add(key);
      }
      parts.push(part);
      i = scanned.end;
    }
    const problem = segmentError(parts, text.slice(start, i));
    if (problem) return problem;
    segments.push(parts);
    if (i < text.length) i++; // the separator
  }
  for (let s = 0; s < segments.length; s++) {
    const parts = segments[s] as Part[];
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p] as Part;
      if (part.kind === "param" && part.catchAll && (s !== segments.length - 1 || p !== parts.length - 1)) {
        return ASPNET_MESSAGES.catchAllMustBeLast;
      }
    }
  }
  for (const part of segments.flat()) {
    if (part.kind !== "param") continue;
    for (const constraint of part.constraints) {
      const key = constraint.replace(/\(.*$/s, "").toLowerCase();
      if (!KNOWN_CONSTRAINTS.has(key)) return ASPNET_MESSAGES.unresolvedConstraint(part.name, constraint, pattern);
    }
  }
  return undefined;
}

type Scanned = { part: Part; end: number } | string;

/** From just after an opening '{' to just after its closing '}'. '{{' and '}}' are escapes. */
function scanParameter(text: string, from: number): Scanned {
  let j = from;
  let end: number;
  for (;;) {
    const c = text[j];
    if (j >= text.length) return ASPNET_MESSAGES.mismatchedParameter;
    if (c === "{") {
      if (j + 1 >= text.length) return ASPNET_MESSAGES.mismatchedParameter;
      if (text[j + 1] !== "{") return ASPNET_MESSAGES.unescapedBrace;
      j++;
    } else if (c === "}") {
      if (text[j + 1] !== "}") {
        end = j + 1;
        break;
      }
      j++;
    }
    j++;
  }
  const inside = text.slice(from, end - 1).replaceAll("}}", "}").replaceAll("{{", "{");
  if (inside === "") return ASPNET_MESSAGES.invalidParameterName("");
  const parsed = parseParameter(inside);
  if (inside.startsWith("*") && inside.endsWith("?")) return ASPNET_MESSAGES.catchAllCannotBeOptional;
  if (parsed.optional && parsed.hasDefault) return ASPNET_MESSAGES.optionalCannotHaveDefault;
  if (parsed.name === "" || INVALID_NAME_CHARS.test(parsed.name)) return ASPNET_MESSAGES.invalidParameterName(parsed.name);
  return { part: { kind: "param", text: `{${inside}}`, ...parsed }, end };
}

/** RouteParameterParser: `*`/`**` catch-all, trailing `?`, the name up to ':' or '=', constraints, default. */
function parseParameter(inside: string) {
  let body = inside;
  const catchAll = body.startsWith("*");
  body = body.replace(/^\*\*?/, "");
  const optional = body.endsWith("?");
  if (optional) body = body.slice(0, -1);
  const cut = body.slice(1).search(/[:=]/);
  const name = cut < 0 ? body : body.slice(0, cut + 1);
  let rest = cut < 0 ? "" : body.slice(cut + 1);
  const constraints: string[] = [];
  // `:name(args)` constraints; parentheses may hold ':' and '='. What follows a top-level '=' is the default.
  while (rest.startsWith(":")) {
    const m = /^:([^:=(]*(\([^)]*\))?)/.exec(rest) as RegExpExecArray;
    constraints.push(m[1] as string);
    rest = rest.slice(m[0].length);
  }
  return { name, catchAll, optional: optional && !catchAll, hasDefault: rest.startsWith("="), constraints };
}

function scanLiteral(text: string, from: number): Scanned {
  let j = from;
  while (j < text.length && text[j] !== "/") {
    const c = text[j];
    if (c === "{") {
      if (j + 1 >= text.length) return ASPNET_MESSAGES.mismatchedParameter;
      if (text[j + 1] !== "{") break;
      j++;
    } else if (c === "}") {
      if (text[j + 1] !== "}") return ASPNET_MESSAGES.mismatchedParameter;
      j++;
    }
    j++;
  }
  const literal = text.slice(from, j).replaceAll("}}", "}").replaceAll("{{", "{");
  if (literal.includes("?")) return ASPNET_MESSAGES.invalidLiteral(literal);
  return { part: { kind: "literal", text: literal }, end: j };
}

/** RoutePatternParser.IsSegmentValid. */
function segmentError(parts: Part[], segment: string): string | undefined {
  if (parts.length > 1 && parts.some((p) => p.kind === "param" && p.catchAll)) return ASPNET_MESSAGES.catchAllInMultiSegment;
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k] as Part;
    if (part.kind !== "param" || !part.optional || parts.length === 1) continue;
    if (k !== parts.length - 1) return ASPNET_MESSAGES.optionalMustBeLast(segment, part.name, (parts[k + 1] as Part).text);
    const previous = parts[k - 1] as Part;
    if (previous.kind !== "literal" || previous.text !== ".") {
      return ASPNET_MESSAGES.optionalPrecededByPeriod(segment, part.name, previous.text);
    }
  }
  for (let k = 1; k < parts.length; k++) {
    if ((parts[k] as Part).kind === "param" && (parts[k - 1] as Part).kind === "param") return ASPNET_MESSAGES.consecutiveParameters;
  }
  return undefined;
}
