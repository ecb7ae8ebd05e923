/**
 * Bundles the daemon into one file, dist/bundle/azure-vnet-plugin.js, which
 * is what the managed plugin ships and runs: Node then reads one file instead
 * of resolving and compiling some hundreds under node_modules, which is most
 * of a cold start, and the rootfs carries no node_modules but netlink's.
 *
 * netlink stays outside the bundle: it loads a native .node prebuild found
 * relative to its own package (node-gyp-build), so it is required at run time
 * from a node_modules next to the bundle (plugin-build.sh copies it there).
 * Native add-ons some dependencies try and fall back from are left as run-time
 * requires too. Run by `npm run build` after tsc; dist/driver/main.js stays
 * what the tests and `npm run sim` run.
 */
import { build } from "esbuild";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "dist/bundle/azure-vnet-plugin.js");

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: ["driver/main.ts"],
  outfile: OUT,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  external: ["netlink"],
  // Whitespace and syntax only: names stay, so stack traces in the logs still read.
  minifyWhitespace: true,
  minifySyntax: true,
  // Bundled packages' licence notices, kept apart from the code Node reads.
  legalComments: "external",
  sourcemap: "external",
  logLevel: "warning",
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
process.stdout.write(`bundle: ${OUT.slice(ROOT.length + 1)} (${Math.round(bytes / 1024)} KiB)\n`);
