import { readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { build, type Metafile, type Plugin } from "esbuild";

/** Where the bundle goes, relative to the project root; `package.json` `main` globs its functions/. */
export const APP_DIR = join("dist", "app");

/**
 * A file of functions/ is a function entry when it registers at top level (`app.http(`,
 * `app.timer(`...: registration last, house style). Modules that only serve the entries (the
 * composition root, the real clock) register nothing and are bundled into the entries' chunks.
 */
const REGISTRATION = /^app\.\w+\(/m;

export function functionEntries(root: string): string[] {
  const dir = join(root, "functions");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .filter((f) => REGISTRATION.test(readFileSync(join(dir, f), "utf8")))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * zod's `z` namespace re-exports every locale (`z.locales`, ~290 KiB of the ~570 KiB zod chunk),
 * so bundling cannot drop them although the broker only ever uses English messages (zod's
 * default). This replaces zod's locale index with English alone.
 */
const zodEnglishOnly: Plugin = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /[\\/]locales[\\/]index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), args.path), namespace: "zod-locales" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(join(dirname(args.path), "en.js"))};\n`,
      resolveDir: dirname(args.path),
    }));
  },
};

export interface BundleResult {
  /** Output files (absolute) and their sizes. */
  outputs: { path: string; bytes: number }[];
  metafile: Metafile;
}

/**
 * The deployable code: each function entry becomes `dist/app/functions/<name>.js` (ESM), and code
 * they share, including `@azure/functions`, goes into chunks imported by them, so every
 * entry sees one instance of each module. Code loaded with `import()` (Key Vault, Redis, the
 * Entra credential...) gets chunks of its own that load only when used.
 *
 * `@azure/functions-core` stays external: the Node.js worker supplies it at run time by
 * intercepting `require`, so the bundled `@azure/functions` must reach a real CommonJS `require`:
 * the banner gives every chunk one (`createRequire`), and esbuild's bundled CommonJS code uses it.
 */
export async function bundleApp(root: string, options: { entries?: string[]; outdir?: string } = {}): Promise<BundleResult> {
  const outdir = options.outdir ?? join(root, APP_DIR);
  // No stale entry or chunk from an earlier build may be matched by the main glob or shipped.
  rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: options.entries ?? functionEntries(root),
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    // ESM builds first for packages without an `exports` map: UMD "main" builds (jsonc-parser's)
    // require their own files by computed paths that a bundle cannot follow.
    mainFields: ["module", "main"],
    // Node 20.19 (development machines) and 22 (Azure) alike.
    target: "node20.19",
    entryNames: "functions/[name]",
    chunkNames: "chunks/[name]-[hash]",
    external: ["@azure/functions-core"],
    banner: { js: 'import { createRequire as __brokerCreateRequire } from "node:module";\nconst require = __brokerCreateRequire(import.meta.url);' },
    // Whitespace and syntax only: names stay, so stack traces and logs still read.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: "none",
    // No source maps: the deployable carries only the code it runs.
    sourcemap: false,
    plugins: [zodEnglishOnly],
    metafile: true,
    logLevel: "warning",
  });
  const outputs = Object.entries(result.metafile.outputs).map(([path, out]) => ({ path: join(root, path), bytes: out.bytes }));
  return { outputs, metafile: result.metafile };
}
