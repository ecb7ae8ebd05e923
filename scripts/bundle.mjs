/**
 * Bundles the daemon into dist/bundle/: azure-vnet-plugin.js, one file with
 * the driver and every package it uses, and node_modules/ with only what
 * Node loads for the one package left out. That directory is what the
 * managed plugin ships and runs (plugin-build.sh copies it to /app): Node
 * reads one file instead of resolving and compiling some hundreds under
 * node_modules, which was most of a cold start.
 *
 * netlink stays outside the bundle because it loads a native .node prebuild
 * that node-gyp-build finds relative to netlink's own package directory. The
 * files it needs are found by loading it (as collect-userland.sh finds a
 * program's libraries by asking the loader), copied, and checked by running
 * the bundle from a copy outside this repository, where nothing else can be
 * found. The prebuild copied is this machine's platform's, as the rootfs
 * built from it is. Run by `npm run build` after tsc; dist/driver/main.js
 * stays what the tests and `npm run sim` run.
 */
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT_DIR = join(ROOT, "dist/bundle");
const OUT = join(OUT_DIR, "azure-vnet-plugin.js");
/** Packages required at run time from OUT_DIR/node_modules rather than bundled. */
const EXTERNAL = ["netlink"];

/** The commit this is built from, "-dirty" with uncommitted changes, "unknown" outside a git checkout. */
function gitCommit() {
  const git = (args) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const commit = git(["rev-parse", "--short=12", "HEAD"]);
    return git(["status", "--porcelain", "--untracked-files=no"]) === "" ? commit : `${commit}-dirty`;
  } catch {
    return "unknown";
  }
}
/** What `azure-vnet-plugin --version` prints (driver/version.ts): baked into the bundle, and in dist/version.json for the compiled tree. */
const BUILD_INFO = { version: JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version, commit: gitCommit() };
writeFileSync(join(ROOT, "dist/version.json"), `${JSON.stringify(BUILD_INFO)}\n`);

rmSync(OUT_DIR, { recursive: true, force: true });
const common = {
  absWorkingDir: ROOT,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  external: EXTERNAL,
  define: { AZURE_VNET_BUILD: JSON.stringify(BUILD_INFO) },
  // Whitespace and syntax only: names stay, so stack traces in the logs still read. Renaming
  // identifiers too saves 15% of the file but costs start-up memory (measured: +5 MiB RSS).
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
};
const result = await build({
  ...common,
  entryPoints: ["driver/main.ts"],
  outfile: OUT,
  // The bundled packages' licence notices, in azure-vnet-plugin.js.LEGAL.txt next to it.
  legalComments: "external",
  // For reading stack traces against the sources; not shipped in the plugin.
  sourcemap: "external",
  metafile: true,
});

// The externals' files as Node loads them (a native add-on is in require.cache too), plus each package's manifest and licence.
const loaded = JSON.parse(
  execFileSync(
    process.execPath,
    ["-e", `for (const p of ${JSON.stringify(EXTERNAL)}) require(p); console.log(JSON.stringify(Object.keys(require.cache)))`],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  ),
);
// require.cache holds real paths.
const modules = realpathSync(join(ROOT, "node_modules"));
const files = new Set();
for (const file of loaded) {
  if (!file.startsWith(modules + sep)) throw new Error(`bundle: ${file}, loaded for ${EXTERNAL.join(", ")}, is outside node_modules`);
  files.add(file);
  const [scopeOrName, name] = relative(modules, file).split(sep);
  const pkg = join(modules, scopeOrName, ...(scopeOrName.startsWith("@") ? [name] : []));
  for (const extra of readdirSync(pkg)) if (extra === "package.json" || /^(licen[cs]e|copying)/i.test(extra)) files.add(join(pkg, extra));
}
for (const file of files) cpSync(file, join(OUT_DIR, "node_modules", relative(modules, file)));

/**
 * netlink's netlink.js takes Node's util through TypeScript's __importStar, which reads every
 * property of util and so loads each part of it Node keeps for first use (parseArgs, diff,
 * worker_threads and more): 1.2 MiB of resident memory in the daemon, for the one function
 * netlink uses (getSystemErrorName). The copy shipped takes util
 * itself. The build fails if netlink changes that line, rather than silently keep the cost.
 */
const NETLINK_UTIL = 'const util = __importStar(require("util"));';
const netlinkJs = join(OUT_DIR, "node_modules/netlink/dist/netlink.js");
const netlinkText = readFileSync(netlinkJs, "utf8");
if (!netlinkText.includes(NETLINK_UTIL))
  throw new Error(`bundle: ${NETLINK_UTIL} is no longer in netlink's dist/netlink.js; update scripts/bundle.mjs`);
writeFileSync(netlinkJs, netlinkText.replace(NETLINK_UTIL, 'const util = require("util");'));

// Nothing of this repository's node_modules can be found from a copy in the temp directory.
const check = mkdtempSync(join(tmpdir(), "azure-vnet-bundle-"));
try {
  cpSync(OUT_DIR, check, { recursive: true, filter: (src) => !src.endsWith(".map") });
  execFileSync(process.execPath, [join(check, "azure-vnet-plugin.js"), "--help"], { stdio: ["ignore", "ignore", "pipe"] });
} catch (err) {
  throw new Error(`bundle: dist/bundle does not run on its own: ${err.stderr?.toString() || err.message}`);
} finally {
  rmSync(check, { recursive: true, force: true });
}

const kib = (bytes) => `${Math.round(bytes / 1024)} KiB`;
const bytes = result.metafile.outputs[relative(ROOT, OUT)]?.bytes ?? 0;
if (!existsSync(OUT) || bytes === 0) throw new Error(`bundle: ${OUT} was not written`);
process.stdout.write(
  `bundle: ${relative(ROOT, OUT)} (${kib(bytes)}) and ${files.size} files of ${EXTERNAL.join(", ")} and what they load\n`,
);
