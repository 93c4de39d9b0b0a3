import { randomUUID } from "node:crypto";
import { format } from "node:util";
import azf from "@azure/functions";
import type { LoadedModules, RegisteredFunction, RegisteredHook } from "./functions-core.js";

export type HostLog = (line: string) => void;

type LogLevel = "trace" | "debug" | "information" | "warning" | "error" | "critical" | "none";

/**
 * Runs one invocation the way the Node.js worker does: a fresh `InvocationContext`, preInvocation
 * hooks (which may replace inputs or the handler), the handler with `(input, context)`, then
 * postInvocation hooks (which may replace the result or swallow the error). With no hooks
 * registered, the hot path is one context object and one call.
 */
export class Invoker {
  /** Shared by every hook of this host ("app-level" data, as in the worker). */
  readonly appHookData: Record<string, unknown> = {};
  private hookVersion = -1;
  private hooks: Record<RegisteredHook["name"], RegisteredHook[]> = emptyHooks();

  constructor(
    private readonly loaded: LoadedModules,
    private readonly log: HostLog,
  ) {}

  async invoke(fn: RegisteredFunction, input: unknown): Promise<unknown> {
    const hooks = this.currentHooks();
    const context: azf.InvocationContext = new azf.InvocationContext({
      invocationId: randomUUID(),
      functionName: fn.name,
      // The library itself leaves triggerMetadata undefined for HTTP and timer triggers.
      logHandler: (level, ...args) => this.userLog(context, level, args),
      options: fn.options as azf.InvocationContextInit["options"],
    });
    if (hooks.preInvocation.length === 0 && hooks.postInvocation.length === 0) {
      return await fn.handler(input, context);
    }

    const hookData: Record<string, unknown> = {};
    const pre = {
      hookData,
      appHookData: this.appHookData,
      invocationContext: context,
      inputs: [input] as unknown[],
      functionCallback: fn.handler,
    };
    for (const hook of hooks.preInvocation) await hook.callback(pre);

    let result: unknown;
    let error: unknown;
    try {
      result = await pre.functionCallback(...pre.inputs, context);
    } catch (err) {
      error = err;
    }
    const post = { hookData, appHookData: this.appHookData, invocationContext: context, inputs: pre.inputs, result, error };
    for (const hook of hooks.postInvocation) await hook.callback(post);
    if (post.error !== undefined && post.error !== null) throw post.error;
    return post.result;
  }

  /** appStart / appTerminate: app-level hooks share `appHookData` as their hookData. */
  async runAppHooks(name: "appStart" | "appTerminate", extra: Record<string, unknown> = {}): Promise<void> {
    const context = { hookData: this.appHookData, appHookData: this.appHookData, ...extra };
    for (const hook of this.currentHooks()[name]) await hook.callback(context);
  }

  systemLog(level: LogLevel, message: string): void {
    this.log(`[host] ${level}: ${message}`);
  }

  private userLog(context: azf.InvocationContext, level: LogLevel, args: unknown[]): void {
    let message = format(...args);
    const logHooks = this.currentHooks().log;
    if (logHooks.length > 0) {
      const hookContext = {
        hookData: {},
        appHookData: this.appHookData,
        invocationContext: context,
        category: "user",
        level,
        message,
      };
      for (const hook of logHooks) hook.callback(hookContext);
      level = hookContext.level;
      message = hookContext.message;
    }
    this.log(`[${context.functionName}] ${level}: ${message}`);
  }

  private currentHooks(): Record<RegisteredHook["name"], RegisteredHook[]> {
    const version = this.loaded.hookVersion();
    if (version !== this.hookVersion) {
      const grouped = emptyHooks();
      for (const hook of this.loaded.hooks()) grouped[hook.name].push(hook);
      this.hooks = grouped;
      this.hookVersion = version;
    }
    return this.hooks;
  }
}

function emptyHooks(): Record<RegisteredHook["name"], RegisteredHook[]> {
  return { appStart: [], appTerminate: [], preInvocation: [], postInvocation: [], log: [] };
}
