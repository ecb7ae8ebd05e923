/**
 * The bundle the managed plugin runs (dist/bundle, built by `npm run build`)
 * loads none of Node's own modules that the daemon does not use: each one
 * loaded is code compiled into the heap and pages of the node binary made
 * resident, for as long as the daemon runs.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const BUNDLE = resolve(__dirname, "../../../../dist/bundle");

/** Node's modules that `script` makes this node load, beyond what a bare `node -e` loads. */
function nodeModulesLoadedBy(script: string): string[] {
  const list = (code: string) => {
    const run = spawnSync(
      process.execPath,
      ["-e", `process.on("exit", () => process.stderr.write("\\nMODULES " + JSON.stringify(process.moduleLoadList) + "\\n")); ${code}`],
      { encoding: "utf8", cwd: BUNDLE },
    );
    const line = /^MODULES (.*)$/m.exec(run.stderr)?.[1];
    assert.ok(line, `node -e ${code}: ${run.stderr}`);
    return (JSON.parse(line) as string[]).filter((m) => m.startsWith("NativeModule ")).map((m) => m.slice("NativeModule ".length));
  };
  const bare = new Set(list(""));
  return list(script).filter((m) => !bare.has(m));
}

/** Loaded only by code the daemon never runs: the promise fs API (it pulls in readline), the worker API (the daemon has one thread), util's lazily loaded parts. */
const UNUSED = [
  "fs/promises",
  "internal/fs/promises",
  "readline",
  "internal/readline/interface",
  "worker_threads",
  "internal/util/parse_args/parse_args",
];

describe("the plugin's bundle", () => {
  it("loads none of Node's modules the daemon does not use, with everything it imports at start", () => {
    // --version runs after every module of the bundle has been loaded, and exits.
    const loaded = nodeModulesLoadedBy(
      `process.argv = [process.argv[0], "azure-vnet-plugin", "--version"]; require("./azure-vnet-plugin.js");`,
    );
    assert.ok(loaded.includes("http"), `the bundle did not load: ${loaded.join(" ")}`);
    assert.deepEqual(
      UNUSED.filter((m) => loaded.includes(m)),
      [],
    );
  });

  it("ships netlink's code taking node:util itself, not a copy of every property of it", function () {
    // TypeScript's __importStar reads every property of util, and on Node 24 that loads each of
    // util's parts Node keeps for first use; Node 20's util has them loaded already.
    const shipped = readFileSync(resolve(BUNDLE, "node_modules/netlink/dist/netlink.js"), "utf8");
    assert.match(shipped, /^const util = require\("util"\);$/m);
    assert.doesNotMatch(shipped, /__importStar\(require\("util"\)\)/);
    if (Number(process.versions.node.split(".")[0]) < 24) return;
    const loaded = nodeModulesLoadedBy(`require("netlink/dist/rt/rt"); require("netlink/dist/raw");`);
    assert.deepEqual(
      UNUSED.filter((m) => loaded.includes(m)),
      [],
    );
  });
});
