import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { LoadedModules, RegisteredFunction } from "./functions-core.js";

/**
 * What the Node.js worker makes of its entry files, from Azure/azure-functions-nodejs-worker:
 * - src/startApp.ts (loadEntryPointFile) imports the files matched by package.json `main` one by
 *   one; the first that throws stops the loop, and its error becomes
 *   `Worker was unable to load entry point "<file>": <message>`. From Node 20 on that error blocks.
 * - src/coreApi/registerFunction.ts: registering a function is what marks the app as using worker
 *   indexing.
 * - src/eventHandlers/FunctionsMetadataHandler.ts: with worker indexing, the blocking error fails
 *   the host's metadata request (the host logs "Worker failed to index functions" and loads
 *   nothing); without it (nothing registered) the worker answers `useDefaultMetadataIndexing` and
 *   the error is dropped: the host looks for function.json files, finds none, and serves an empty
 *   app, every route 404.
 * The local host refuses to start in both failing cases; for the second, Azure has no error at
 * all, so this is stricter by design.
 */
export class WorkerIndexingError extends Error {
  override readonly name = "WorkerIndexingError";
  constructor(
    message: string,
    /** Names of the functions registered before the failure. */
    readonly registered: string[],
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** The functions the worker would report to the host, or the error it would fail indexing with. */
export function indexedFunctions(loaded: LoadedModules): RegisteredFunction[] {
  const names = loaded.functions.map((f) => f.name);
  const failure = loaded.failed && entryPointError(loaded.failed.module, loaded.failed.error);
  if (names.length === 0) {
    throw new WorkerIndexingError(
      "No function registered. The Node.js worker would report that this app does not use worker indexing, and the " +
        "Functions host would serve an empty app (every route 404) without an error. Register every function before " +
        "anything can throw." +
        (failure ? `\nThe entry files failed before any registration: ${failure}` : ""),
      names,
      loaded.failed?.error,
    );
  }
  if (failure) {
    throw new WorkerIndexingError(
      `Worker failed to index functions: ${failure}\n(Functions registered before the error: ${names.join(", ")}.)`,
      names,
      loaded.failed?.error,
    );
  }
  return loaded.functions;
}

function entryPointError(module: string, error: unknown): string {
  const path = module.startsWith("file:") ? fileURLToPath(module) : module;
  const shown = relative(process.cwd(), path);
  const message = error instanceof Error ? error.message : String(error);
  return `Worker was unable to load entry point "${shown.startsWith("..") ? path : shown}": ${message}`;
}
