/**
 * How the managed plugin starts node, read from plugin-config/config.json,
 * so the bench runs the plugin as users do: the bundle, the entrypoint's node
 * flags and the variables that tune the node process.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const REPO = resolve(__dirname, "../..");
export const PLUGIN_BUNDLE = join(REPO, "dist/bundle/azure-vnet-plugin.js");
/** Variables of config.json that tune the node process itself (the others name mounts and settings of the managed plugin). */
const PROCESS_TUNING = ["GLIBC_TUNABLES"];

/** How the managed plugin starts node: the flags before the script, and the tuning variables it sets. */
export function pluginEntrypoint(): { nodeArgs: string[]; env: Record<string, string> } {
  const config = JSON.parse(readFileSync(join(REPO, "plugin-config/config.json"), "utf8")) as {
    entrypoint: string[];
    env: { name: string; value: string }[];
  };
  const script = config.entrypoint.findIndex((arg, i) => i > 0 && !arg.startsWith("-"));
  if (script < 0) throw new Error("plugin-config/config.json: the entrypoint names no script");
  const env = Object.fromEntries(config.env.filter((e) => PROCESS_TUNING.includes(e.name)).map((e) => [e.name, e.value]));
  return { nodeArgs: config.entrypoint.slice(1, script), env };
}
