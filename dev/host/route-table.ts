import { compareRoutes, RouteTemplate } from "./route-template.js";

export type RouteLookup<T> =
  | { kind: "found"; target: T; params: Record<string, string> }
  | { kind: "method-not-allowed"; allow: string[] }
  | { kind: "not-found" }
  | { kind: "bad-path" };

interface Entry<T> {
  template: RouteTemplate;
  /** Upper-case methods; undefined = any method (an HTTP trigger registered with no methods). */
  methods: ReadonlySet<string> | undefined;
  target: T;
  order: number;
}

/**
 * HTTP routes under one prefix (Azure's `routePrefix`, "api" by default). Lookup splits and
 * decodes the raw path once, then tries routes from most to least specific; a path that some route
 * matches with another method yields the methods for a 405 `Allow` header.
 */
export class RouteTable<T> {
  private readonly entries: Entry<T>[] = [];
  private readonly prefix: string[];

  constructor(routePrefix: string) {
    this.prefix = splitTemplate(routePrefix).map((s) => s.toLowerCase());
  }

  add(route: string, methods: readonly string[] | undefined, target: T): void {
    const upper = methods && methods.length > 0 ? new Set(methods.map((m) => m.toUpperCase())) : undefined;
    this.entries.push({ template: new RouteTemplate(route), methods: upper, target, order: this.entries.length });
    this.entries.sort((a, b) => compareRoutes(a.template, b.template) || a.order - b.order);
  }

  /** `rawPath` is the request target up to (not including) '?', e.g. "/api/token/flowe". */
  lookup(method: string, rawPath: string): RouteLookup<T> {
    const segments = this.segmentsAfterPrefix(rawPath);
    if (segments === undefined) return { kind: "not-found" };
    if (segments === null) return { kind: "bad-path" };
    let allow: Set<string> | undefined;
    for (const entry of this.entries) {
      const params = entry.template.match(segments);
      if (!params) continue;
      if (!entry.methods || entry.methods.has(method)) return { kind: "found", target: entry.target, params };
      allow ??= new Set();
      for (const m of entry.methods) allow.add(m);
    }
    return allow ? { kind: "method-not-allowed", allow: [...allow] } : { kind: "not-found" };
  }

  /** undefined: outside the prefix; null: not decodable. */
  private segmentsAfterPrefix(rawPath: string): string[] | undefined | null {
    if (rawPath.charCodeAt(0) !== 47 /* "/" */) return undefined;
    const parts = rawPath.split("/");
    parts.shift();
    // A trailing slash is not significant in Azure Functions routes.
    if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
    const prefix = this.prefix;
    if (parts.length < prefix.length) return undefined;
    for (let i = 0; i < prefix.length; i++) {
      const want = prefix[i] as string;
      const got = parts[i] as string;
      if (got !== want && got.toLowerCase() !== want) return undefined;
    }
    const rest = prefix.length === 0 ? parts : parts.slice(prefix.length);
    for (let i = 0; i < rest.length; i++) {
      const part = rest[i] as string;
      if (part.includes("%")) {
        try {
          rest[i] = decodeURIComponent(part);
        } catch {
          return null;
        }
      }
    }
    return rest;
  }
}

function splitTemplate(text: string): string[] {
  const trimmed = text.replace(/^\/+|\/+$/g, "");
  return trimmed === "" ? [] : trimmed.split("/");
}
