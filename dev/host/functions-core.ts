import { createRequire, Module } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";

/**
 * Our stand-in for `@azure/functions-core`, the module the real Node.js worker injects. The
 * `@azure/functions` bundle `require`s it lazily the first time a function or hook is registered
 * and, if it is missing, switches to "test mode" for good (it caches the failure). So the resolver
 * hook must be installed before anything calls `app.*`: `startLocalHost` does it first thing.
 *
 * The module is process-wide (like the worker). Registrations are attributed to the function module
 * being imported when they happen, so several hosts in one process each get their own modules'
 * functions, and a module imported twice is evaluated once (ESM caches it) yet serves both hosts.
 */

export type FunctionCallback = (...args: unknown[]) => unknown;

/** One binding as `@azure/functions` describes it (trigger options are spread into it). */
export type CoreBinding = { type: string; direction?: string | null; [key: string]: unknown };

export interface CoreFunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, CoreBinding>;
  retryOptions?: unknown;
}

/** The options object `InvocationContext.options` carries, derived once from the bindings. */
export interface EffectiveOptions {
  trigger: CoreBinding & { name: string };
  return?: CoreBinding & { name: string };
  extraInputs: (CoreBinding & { name: string })[];
  extraOutputs: (CoreBinding & { name: string })[];
}

export interface RegisteredFunction {
  readonly name: string;
  /** e.g. "httpTrigger", "timerTrigger". */
  readonly triggerType: string;
  readonly trigger: CoreBinding & { name: string };
  readonly options: EffectiveOptions;
  readonly metadata: CoreFunctionMetadata;
  readonly handler: FunctionCallback;
  /** file URL of the function module whose import registered it. */
  readonly module: string;
}

export type HookName = "appStart" | "appTerminate" | "preInvocation" | "postInvocation" | "log";
const HOOK_NAMES: ReadonlySet<string> = new Set<HookName>(["appStart", "appTerminate", "preInvocation", "postInvocation", "log"]);

export interface RegisteredHook {
  readonly name: HookName;
  readonly callback: (context: Record<string, unknown>) => unknown;
  /** undefined for hooks registered outside a module import: those apply to every host. */
  readonly module: string | undefined;
  disposed: boolean;
}

export type CoreLogLevel = "trace" | "debug" | "information" | "warning" | "error" | "critical" | "none";
export type CoreLogSink = (level: CoreLogLevel, category: string, message: string) => void;

export interface LoadedModules {
  /** Registered by the modules that loaded, and by the one that failed before it threw. */
  functions: RegisteredFunction[];
  /**
   * The first module whose import threw, and the error. As in the Node.js worker's startApp, the
   * modules after it were not loaded.
   */
  failed: { module: string; error: unknown } | undefined;
  /** Modules (file URLs) that registered no function, e.g. because they were imported before the hook. */
  withoutFunctions: string[];
  /** Hooks of these modules plus global hooks, not disposed; a fresh array each call. */
  hooks(): RegisteredHook[];
  /** Changes whenever `hooks()` may have: callers cache the list per version. */
  hookVersion(): number;
}

const bindingSchema = z.looseObject({ type: z.string().min(1), direction: z.string().nullish() });
const metadataSchema = z.looseObject({
  name: z.string().min(1),
  functionId: z.string().optional(),
  bindings: z.record(z.string(), bindingSchema),
  retryOptions: z.unknown().optional(),
});

/** Same class shape as the worker's: `Disposable.from(...)` and `new Disposable(fn)`. */
export class Disposable {
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => {
      for (const item of items) item.dispose();
    });
  }
  #onDispose: (() => unknown) | undefined;
  constructor(onDispose: () => unknown) {
    this.#onDispose = onDispose;
  }
  dispose(): unknown {
    const fn = this.#onDispose;
    this.#onDispose = undefined;
    return fn?.();
  }
}

interface ModuleRecord {
  functions: RegisteredFunction[];
  hooks: RegisteredHook[];
  /** Set when the import threw: ESM caches the failure too, so every later load sees it again. */
  error?: { thrown: unknown };
}

export class FunctionsCoreRegistry {
  private readonly modules = new Map<string, ModuleRecord>();
  private readonly globalHooks: RegisteredHook[] = [];
  private loading: { href: string; record: ModuleRecord } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private programmingModel: unknown = { name: "token-broker-local-host", version: "1" };
  private readonly sinks = new Set<CoreLogSink>();
  /** Bumped on every hook registration or disposal so hosts can cache their hook lists. */
  hookVersion = 0;

  /** The object `require("@azure/functions-core")` returns. */
  readonly api = {
    version: "local",
    hostVersion: "4.1000.0-local",
    Disposable,
    registerFunction: (metadata: unknown, callback: unknown): Disposable => this.registerFunction(metadata, callback),
    registerHook: (name: string, callback: unknown): Disposable => this.registerHook(name, callback),
    setProgrammingModel: (model: unknown): void => {
      this.programmingModel = model;
    },
    getProgrammingModel: (): unknown => this.programmingModel,
    log: (level: CoreLogLevel, category: string, message: string): void => this.log(level, category, message),
  };

  registerFunction(rawMetadata: unknown, callback: unknown): Disposable {
    const loading = this.loading;
    if (!loading) throw new Error("A function can only be registered during app startup.");
    if (typeof callback !== "function") throw new Error("registerFunction needs a handler function");
    const metadata = metadataSchema.parse(rawMetadata) as CoreFunctionMetadata;
    const options = effectiveOptions(metadata);
    const fn: RegisteredFunction = {
      name: metadata.name,
      triggerType: options.trigger.type,
      trigger: options.trigger,
      options,
      metadata,
      handler: callback as FunctionCallback,
      module: loading.href,
    };
    loading.record.functions.push(fn);
    return new Disposable(() => remove(loading.record.functions, fn));
  }

  registerHook(name: string, callback: unknown): Disposable {
    // The worker throws a RangeError for unknown hooks; @azure/functions relies on that for `log`.
    if (!HOOK_NAMES.has(name)) throw new RangeError(`Unrecognized hook "${name}"`);
    if (typeof callback !== "function") throw new Error(`hook "${name}" needs a callback function`);
    const hook: RegisteredHook = {
      name: name as HookName,
      callback: callback as RegisteredHook["callback"],
      module: this.loading?.href,
      disposed: false,
    };
    (this.loading ? this.loading.record.hooks : this.globalHooks).push(hook);
    this.hookVersion++;
    return new Disposable(() => {
      hook.disposed = true;
      this.hookVersion++;
    });
  }

  log(level: CoreLogLevel, category: string, message: string): void {
    if (this.sinks.size === 0) {
      console.warn(`[functions-core] ${level} ${message}`);
      return;
    }
    for (const sink of this.sinks) sink(level, category, message);
  }

  addLogSink(sink: CoreLogSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  /**
   * Imports the modules one at a time (process-wide) so every registration has one owner, and
   * stops at the first that throws, like the worker's loop over its entry files.
   */
  load(modules: readonly string[]): Promise<LoadedModules> {
    const run = this.queue.then(() => this.loadSerially(modules));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async loadSerially(modules: readonly string[]): Promise<LoadedModules> {
    const records: ModuleRecord[] = [];
    const withoutFunctions: string[] = [];
    let failed: LoadedModules["failed"];
    for (const spec of modules) {
      const href = toHref(spec);
      let record = this.modules.get(href);
      if (!record) {
        const fresh: ModuleRecord = { functions: [], hooks: [] };
        this.loading = { href, record: fresh };
        try {
          await import(href);
        } catch (error) {
          fresh.error = { thrown: error };
        } finally {
          this.loading = undefined;
        }
        this.modules.set(href, fresh);
        record = fresh;
      }
      records.push(record);
      if (record.error) {
        failed = { module: href, error: record.error.thrown };
        break;
      }
      if (record.functions.length === 0) withoutFunctions.push(href);
    }
    return {
      functions: records.flatMap((r) => r.functions),
      failed,
      withoutFunctions,
      hooks: () => [...records.flatMap((r) => r.hooks), ...this.globalHooks].filter((h) => !h.disposed),
      hookVersion: () => this.hookVersion,
    };
  }
}

function effectiveOptions(metadata: CoreFunctionMetadata): EffectiveOptions {
  let trigger: (CoreBinding & { name: string }) | undefined;
  let ret: (CoreBinding & { name: string }) | undefined;
  const extraInputs: (CoreBinding & { name: string })[] = [];
  const extraOutputs: (CoreBinding & { name: string })[] = [];
  for (const [name, binding] of Object.entries(metadata.bindings)) {
    const named = { ...binding, name };
    if (/trigger$/i.test(binding.type)) {
      if (trigger) throw new Error(`function "${metadata.name}" has more than one trigger`);
      trigger = named;
    } else if (name === "$return") ret = named;
    else if (binding.direction === "in") extraInputs.push(named);
    else if (binding.direction === "out") extraOutputs.push(named);
  }
  if (!trigger) throw new Error(`function "${metadata.name}" has no trigger binding`);
  return { trigger, return: ret, extraInputs, extraOutputs };
}

function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

function toHref(spec: string): string {
  return spec.startsWith("file:") ? new URL(spec).href : pathToFileURL(spec).href;
}

const CORE_REQUEST = "@azure/functions-core";
/** A path that never exists on disk; only the require cache knows it. */
const CORE_FILENAME = join(dirname(fileURLToPath(import.meta.url)), "__azure-functions-core__.virtual.cjs");
const GLOBAL_KEY = Symbol.for("token-broker.local-host.functions-core");

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;
interface ModuleInternals {
  _resolveFilename: ResolveFilename;
}

/**
 * Installs the resolver hook and the cached module (idempotent; one registry per process, even if
 * this file were loaded twice). Must run before any function module is imported.
 */
export function installFunctionsCore(): FunctionsCoreRegistry {
  const holder = globalThis as { [GLOBAL_KEY]?: FunctionsCoreRegistry };
  const existing = holder[GLOBAL_KEY];
  if (existing) return existing;
  const registry = new FunctionsCoreRegistry();

  const cache = createRequire(import.meta.url).cache;
  const mod = new Module(CORE_FILENAME);
  mod.filename = CORE_FILENAME;
  mod.loaded = true;
  mod.exports = registry.api;
  cache[CORE_FILENAME] = mod;

  const internals = Module as unknown as ModuleInternals;
  const original = internals._resolveFilename;
  internals._resolveFilename = function (this: unknown, request, parent, isMain, options) {
    if (request === CORE_REQUEST) return CORE_FILENAME;
    return original.call(this, request, parent, isMain, options);
  };

  holder[GLOBAL_KEY] = registry;
  return registry;
}
