/**
 * The reference tables of docs/options.md, made from the tables the code
 * itself validates with (NETWORK_OPTIONS, POOL_OPTIONS, serve's settings and
 * the operator commands' flags), so the documentation cannot drift from what
 * the plugin accepts. `npm run docs:tables` rewrites the marked sections; a
 * unit test fails when they differ.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { registerServeOptions } from "../config";
import { POOL_OPTIONS } from "../ipam/pool-options";
import { NETWORK_OPTIONS } from "../network/options";
import { registerOperatorCommands } from "./commands";

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
const code = (text: string) => (text === "" ? "" : `\`${text}\``);

function table(headers: string[], rows: string[][]): string {
  return [
    `| ${headers.join(" | ")} |`,
    `| ${headers.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

export function networkOptionsTable(): string {
  return table(
    ["Option", "Values", "Default", "What it does"],
    NETWORK_OPTIONS.map((o) => [code(o.name), o.values, code(o.default), o.description]),
  );
}

export function ipamOptionsTable(): string {
  const keys = Object.keys(POOL_OPTIONS);
  if (keys.length === 0)
    return "The IPAM driver takes no `--ipam-opt` options; any key other than Docker's own `com.docker.*` ones is refused with an error naming it.";
  return table(
    ["Option", "What it does"],
    keys.map((k) => [code(k), POOL_OPTIONS[k].description]),
  );
}

/** Commander renders each setting as "<help> (env NAME; default VALUE)". */
function splitHelp(description: string): { help: string; env: string; dflt: string } {
  const m = /^(.*) \(env (\S+?)(?:; default (.*))?\)$/.exec(description);
  return m ? { help: m[1], env: m[2], dflt: m[3] ?? "" } : { help: description, env: "", dflt: "" };
}

/** The managed plugin's variables (plugin-config/config.json): name -> settable, and its value when fixed. */
export function managedPluginVariables(root = join(__dirname, "../../..")): Map<string, { settable: boolean; value: string }> {
  const config = JSON.parse(readFileSync(join(root, "plugin-config/config.json"), "utf8")) as {
    env: { name: string; value: string; settable?: string[] }[];
  };
  return new Map(config.env.map((e) => [e.name, { settable: e.settable?.includes("value") ?? false, value: e.value }]));
}

/** How the managed plugin takes a setting: `docker plugin set`, or fixed by its config.json (a flag can still go in `args`). */
function managedCell(env: string, flag: string, variables: Map<string, { settable: boolean; value: string }>): string {
  const v = variables.get(env);
  if (v?.settable) return "settable";
  const entry = /--(socket|state-dir) <[^>]+>/.test(flag) ? "fixed by the entrypoint" : "`args`";
  return v ? `fixed: \`${v.value}\`` : entry;
}

export function serveFlagsTable(): string {
  const cmd = registerServeOptions(new Command("serve"));
  const variables = managedPluginVariables();
  return table(
    ["Flag", "Environment variable", "Default", "Managed plugin", "Meaning"],
    cmd.options.map((o) => {
      const { help, env, dflt } = splitHelp(o.description);
      return [code(o.flags), code(env), code(dflt), managedCell(env, o.flags, variables), help];
    }),
  );
}

/** The flags `status` and `doctor` add to serve's. */
export function operatorFlagsTable(): string {
  const program = new Command("azure-vnet-plugin");
  registerOperatorCommands(program);
  const serveFlags = new Set(registerServeOptions(new Command("serve")).options.map((o) => o.long));
  const rows: string[][] = [];
  for (const sub of program.commands) {
    for (const o of sub.options) {
      if (serveFlags.has(o.long)) continue;
      const dflt = o.defaultValue === undefined || typeof o.defaultValue === "boolean" ? "" : String(o.defaultValue);
      rows.push([code(sub.name()), code(o.flags), code(dflt), o.description]);
    }
  }
  return table(["Command", "Flag", "Default", "Meaning"], rows);
}

const SECTIONS: Record<string, () => string> = {
  "network-options": networkOptionsTable,
  "ipam-options": ipamOptionsTable,
  "serve-flags": serveFlagsTable,
  "operator-flags": operatorFlagsTable,
};

/** Replaces what stands between `<!-- BEGIN generated NAME -->` and `<!-- END generated NAME -->`. */
export function regenerate(markdown: string): string {
  let out = markdown;
  for (const [name, make] of Object.entries(SECTIONS)) {
    const begin = `<!-- BEGIN generated ${name} (npm run docs:tables) -->`;
    const end = `<!-- END generated ${name} -->`;
    const from = out.indexOf(begin);
    const to = out.indexOf(end);
    if (from < 0 || to < from) throw new Error(`the markers of the generated section "${name}" are missing: ${begin} ... ${end}`);
    out = `${out.slice(0, from + begin.length)}\n${make()}\n${out.slice(to)}`;
  }
  return out;
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: node dist/driver/cli/reference-tables.js docs/options.md\n");
    process.exit(2);
  }
  writeFileSync(file, regenerate(readFileSync(file, "utf8")));
}
