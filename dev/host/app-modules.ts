import { readFileSync } from "node:fs";
import { join } from "node:path";
import globby from "globby";
import { z } from "zod";

const packageSchema = z.looseObject({ main: z.string().min(1) });

/**
 * The files the Node.js worker imports for a function app: its package.json `main`, expanded as
 * a glob against the app folder with globby 11, as the worker itself does, in the same order.
 */
export async function appModules(appRoot: string): Promise<string[]> {
  const { main } = packageSchema.parse(JSON.parse(readFileSync(join(appRoot, "package.json"), "utf8")));
  const files = await globby(main, { cwd: appRoot });
  if (files.length === 0) throw new Error(`${appRoot}: package.json main "${main}" matches no file`);
  return files.map((f) => join(appRoot, f));
}
