import { aspnetRouteTemplateError } from "./aspnet-route-rules.js";
import type { RegisteredFunction } from "./functions-core.js";
import { RouteTemplate } from "./route-template.js";

/**
 * The checks the Functions host applies to the functions a worker reports, before loading them.
 * In Azure a function that fails one is not loaded ("The '{name}' function is in error: ...") and
 * its route answers 404 while the rest of the app runs; the local host refuses to start instead,
 * naming every problem, so the difference shows before a deployment does.
 *
 * Sources, in Azure/azure-functions-host (src/WebJobs.Script):
 * - Utility.ValidateName (called by WorkerFunctionMetadataProvider.ValidateMetadata): the name must
 *   match `^[a-z][a-z0-9_\-]{0,127}$` (ignoring case) and not be `host`.
 * - ScriptHost.ValidateHttpFunction: the route (the function name when blank), trimmed of '/' and
 *   lower-cased, must not start with "admin" or "runtime" (a prefix match: "administration" too).
 * - ScriptHost.ValidateFunction / HttpRoutesConflict: two HTTP functions conflict when their routes
 *   are equal (trimmed of '/', ignoring case) and their methods intersect (none listed = all); a
 *   function name must be unique.
 * - The route template must parse (aspnet-route-rules.ts), then be one this host can serve.
 */
export const HOST_MESSAGES = {
  invalidName: (name: string) => `'${name}' is not a valid function name.`,
  reservedRoute: "The specified route conflicts with one or more built in routes.",
  routeConflict: (other: string) => `The route specified conflicts with the route defined by function '${other}'.`,
  duplicateName: (name: string) => `The function or proxy name '${name}' must be unique within the function app.`,
  inError: (name: string, message: string) => `The '${name}' function is in error: ${message}`,
} as const;

const FUNCTION_NAME = /^[a-z][a-z0-9_-]{0,127}$/i;
const RESERVED_ROUTE_PREFIXES = ["admin", "runtime"];

/** Every problem the host would report, one line each; thrown as one error by `validateFunctions`. */
export class FunctionValidationError extends Error {
  override readonly name = "FunctionValidationError";
  constructor(readonly problems: string[]) {
    super(`The Functions host would not load ${problems.length === 1 ? "this function" : "these functions"}:\n  - ${problems.join("\n  - ")}`);
  }
}

interface HttpFunction {
  name: string;
  route: string;
  /** Upper-case; empty = every method. */
  methods: string[];
}

/** Throws a FunctionValidationError naming every function the host would refuse, and why. */
export function validateFunctions(functions: readonly RegisteredFunction[], routePrefix: string): void {
  const problems: string[] = [];
  const names = new Map<string, string>();
  const routes: HttpFunction[] = [];
  for (const fn of functions) {
    const fail = (message: string) => problems.push(HOST_MESSAGES.inError(fn.name, message));
    if (!FUNCTION_NAME.test(fn.name) || fn.name.toLowerCase() === "host") fail(HOST_MESSAGES.invalidName(fn.name));
    // The host compares names exactly; function names are otherwise case-insensitive there, so this is stricter.
    const key = fn.name.toLowerCase();
    if (names.has(key)) fail(HOST_MESSAGES.duplicateName(fn.name));
    else names.set(key, fn.name);

    if (fn.triggerType.toLowerCase() !== "httptrigger") continue;
    const route = httpRoute(fn);
    const trimmed = route.replace(/^\/+|\/+$/g, "").toLowerCase();
    if (RESERVED_ROUTE_PREFIXES.some((prefix) => trimmed.startsWith(prefix))) {
      fail(HOST_MESSAGES.reservedRoute);
      continue;
    }
    const templateProblem = routeTemplateProblem(route, routePrefix);
    if (templateProblem) {
      fail(templateProblem);
      continue;
    }
    const http: HttpFunction = { name: fn.name, route: trimmed, methods: httpMethods(fn) };
    const other = routes.find((r) => r.route === http.route && methodsIntersect(r.methods, http.methods));
    if (other) fail(HOST_MESSAGES.routeConflict(other.name));
    routes.push(http);
  }
  if (problems.length > 0) throw new FunctionValidationError(problems);
}

/** The route the host maps: the trigger's route, or the function name when it has none. */
export function httpRoute(fn: RegisteredFunction): string {
  const route = fn.trigger.route;
  return typeof route === "string" && route.trim() !== "" ? route : fn.name;
}

function httpMethods(fn: RegisteredFunction): string[] {
  const methods = fn.trigger.methods;
  return Array.isArray(methods) ? methods.map((m) => String(m).toUpperCase()) : [];
}

function methodsIntersect(a: string[], b: string[]): boolean {
  return a.length === 0 || b.length === 0 || a.some((m) => b.includes(m));
}

/**
 * ASP.NET's verdict on the route alone (indexing) and prefixed (mapping: "api/" + route, so a
 * leading '/' makes "api//x"), then this host's own, narrower parser.
 */
function routeTemplateProblem(route: string, routePrefix: string): string | undefined {
  const prefix = routePrefix.replace(/^\/+|\/+$/g, "");
  const problem = aspnetRouteTemplateError(route) ?? (prefix === "" ? undefined : aspnetRouteTemplateError(`${prefix}/${route}`));
  if (problem) return problem;
  try {
    new RouteTemplate(route);
    return undefined;
  } catch (error) {
    return `${(error as Error).message} (not supported by the local host)`;
  }
}
