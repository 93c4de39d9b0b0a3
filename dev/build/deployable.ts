import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import ignore from "ignore";
import type { Metafile } from "esbuild";
import { APP_DIR, bundleApp } from "./bundle.js";

/** The deployable function app folder, relative to the project root (azure.yaml `dist`). */
export const PACKAGE_DIR = join("dist", "package");

/** Fields of the project's package.json the worker and `npm` need in Azure; the rest is development. */
const KEPT_PACKAGE_FIELDS = ["name", "version", "private", "type", "engines", "main"] as const;

export interface Deployable {
  dir: string;
  /** Paths relative to `dir`, '/'-separated, sorted. */
  files: string[];
  bytes: number;
  /** esbuild's account of the bundle (inputs per output, static and dynamic imports). */
  metafile: Metafile;
}

/**
 * Builds the deployable package the way `azd package` (or `func pack`) assembles it, from a
 * clean slate: the bundle (dist/app), then every file of the project that `.funcignore` keeps.
 * No node_modules: the bundle carries every dependency, so a local build ships no install step.
 * The copied package.json keeps only what runs in Azure (no dependencies, no scripts).
 */
export async function buildDeployable(root: string, outdir = join(root, PACKAGE_DIR)): Promise<Deployable> {
  rmSync(outdir, { recursive: true, force: true });
  const { metafile } = await bundleApp(root, { outdir: join(root, APP_DIR) });
  const keep = ignore().add(readFileSync(join(root, ".funcignore"), "utf8"));
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, entry.name);
      const rel = relative(root, abs).split(sep).join("/");
      // node_modules: bundled; .git: never a file of the app; outdir: the package itself.
      if (entry.name === "node_modules" || entry.name === ".git" || abs === outdir) continue;
      if (entry.isDirectory()) {
        if (!keep.ignores(rel + "/")) walk(abs);
      } else if (entry.isFile() && !keep.ignores(rel)) {
        files.push(rel);
      }
    }
  };
  walk(root);
  files.sort();
  for (const rel of files) {
    const target = join(outdir, rel);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(root, rel), target);
  }
  if (files.includes("package.json")) {
    const full = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<string, unknown>;
    const shipped = Object.fromEntries(KEPT_PACKAGE_FIELDS.filter((k) => k in full).map((k) => [k, full[k]]));
    writeFileSync(join(outdir, "package.json"), JSON.stringify(shipped, null, 2) + "\n");
  }
  const bytes = files.reduce((sum, rel) => sum + statSync(join(outdir, rel)).size, 0);
  return { dir: outdir, files, bytes, metafile };
}
