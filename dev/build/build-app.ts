import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildDeployable } from "./deployable.js";

/**
 * `npm run build` (after `clean` and `tsc`): bundles the functions and assembles the deployable
 * function app in dist/package, the folder `azd deploy` zips and `npm start` and the tests serve.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const started = Date.now();
const deployable = await buildDeployable(root);
const functions = deployable.files.filter((f) => f.startsWith("dist/app/functions/")).length;
process.stdout.write(
  `deployable: ${relative(root, deployable.dir) || "."} — ${deployable.files.length} files, ` +
    `${(deployable.bytes / 1024).toFixed(0)} KiB, ${functions} function entries (${Date.now() - started} ms)\n`,
);
