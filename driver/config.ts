/** The daemon's settings: every `serve` flag with its environment variable and default, and their validation. */
import { isAbsolute } from "node:path";
import { isIP } from "node:net";
import { Command, CommanderError } from "commander";
import * as v from "valibot";
import { errorMessage } from "./errors";
import { issuePath } from "./lib/valid";
import { DEFAULT_NON_MASQUERADE, parseCidrList } from "./network/options";

export const METADATA_SOURCES = ["auto", "imds", "wireserver", "file"] as const;
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export const LOG_FORMATS = ["json", "text"] as const;
export const IPCONFIG_MANAGEMENT = ["static", "arm"] as const;
/** Secondary ipconfigs a NIC may have: Azure allows 256 private addresses per NIC, one of them the primary. */
export const MAX_SECONDARY_IPCONFIGS = 255;

export type MetadataSourceKind = (typeof METADATA_SOURCES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];
export type IpconfigManagement = (typeof IPCONFIG_MANAGEMENT)[number];

export type ListenAddress = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

/** Everything `azure-vnet-plugin serve` needs, validated. */
export interface ServeConfig {
  socket: string;
  stateDir: string;
  metadataSource: MetadataSourceKind;
  /** Set whenever given; required when metadataSource is "file". */
  metadataFile: string | undefined;
  /** Base URLs without a trailing slash. */
  imdsUrl: string;
  wireserverUrl: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  metricsListen: ListenAddress | undefined;
  /** Seconds between reconciliations against Docker. */
  reconcileInterval: number;
  /** Seconds something must be missing from Docker before it is released. */
  reconcileGrace: number;
  /** non-masquerade-cidrs of networks created without that option; undefined: the built-in list. */
  nonMasqueradeCidrs: string[] | undefined;
  /** "static": the user makes the ipconfigs; "arm": the plugin keeps a warm pool through Azure Resource Manager. */
  ipconfigManagement: IpconfigManagement;
  /** Free secondary ipconfigs kept beyond those in use (arm). */
  warmIpTarget: number;
  /** Secondary ipconfigs kept at least, used or not (arm). */
  minIpTarget: number;
  /** Secondary ipconfigs never exceeded (arm). */
  maxIpTarget: number;
  /** Seconds an unused ipconfig above the target stays before it is returned (arm). */
  ipCooldown: number;
  /** ARM's base URL without a trailing slash. */
  armEndpoint: string;
  /** A PEM file of CAs trusted for ARM besides the system's; undefined: the system's only. */
  armCaFile: string | undefined;
}

/** A configuration problem the user must fix; one line per problem. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

type Key = keyof ServeConfig;

interface Setting {
  key: Key;
  flag: string;
  arg: string;
  env: string;
  default?: string;
  help: string;
}

/** One row per setting: its flag, its environment variable and its default. */
const SETTINGS: readonly Setting[] = [
  {
    key: "socket",
    flag: "--socket",
    arg: "path",
    env: "AZURE_VNET_SOCKET",
    default: "/run/docker/plugins/azure-vnet.sock",
    help: "unix socket Docker connects to",
  },
  {
    key: "stateDir",
    flag: "--state-dir",
    arg: "dir",
    env: "AZURE_VNET_STATE_DIR",
    default: "/var/lib/azure-vnet",
    help: "directory for the state checkpoint",
  },
  {
    key: "metadataSource",
    flag: "--metadata-source",
    arg: "source",
    env: "AZURE_VNET_METADATA_SOURCE",
    default: "auto",
    help: `where NIC addresses come from: ${METADATA_SOURCES.join("|")}`,
  },
  {
    key: "metadataFile",
    flag: "--metadata-file",
    arg: "path",
    env: "AZURE_VNET_METADATA_FILE",
    help: "JSON file of NIC addresses (required with --metadata-source=file)",
  },
  {
    key: "imdsUrl",
    flag: "--imds-url",
    arg: "url",
    env: "AZURE_VNET_IMDS_URL",
    default: "http://169.254.169.254",
    help: "Azure Instance Metadata Service base URL",
  },
  {
    key: "wireserverUrl",
    flag: "--wireserver-url",
    arg: "url",
    env: "AZURE_VNET_WIRESERVER_URL",
    default: "http://168.63.129.16",
    help: "Azure wireserver base URL",
  },
  { key: "logLevel", flag: "--log-level", arg: "level", env: "LOG_LEVEL", default: "info", help: LOG_LEVELS.join("|") },
  { key: "logFormat", flag: "--log-format", arg: "format", env: "LOG_FORMAT", default: "text", help: LOG_FORMATS.join("|") },
  {
    key: "reconcileInterval",
    flag: "--reconcile-interval",
    arg: "seconds",
    env: "AZURE_VNET_RECONCILE_INTERVAL",
    default: "60",
    help: "how often to reconcile with Docker",
  },
  {
    key: "reconcileGrace",
    flag: "--reconcile-grace",
    arg: "seconds",
    env: "AZURE_VNET_RECONCILE_GRACE",
    default: "30",
    help: "how long a container must be gone from Docker before its address is released",
  },
  {
    key: "nonMasqueradeCidrs",
    flag: "--non-masquerade-cidrs",
    arg: "cidrs",
    env: "AZURE_VNET_NON_MASQUERADE_CIDRS",
    help: `comma-separated IPv4 CIDRs reached without masquerade by networks created without the non-masquerade-cidrs option (unset: ${DEFAULT_NON_MASQUERADE.join(",")})`,
  },
  {
    key: "ipconfigManagement",
    flag: "--ipconfig-management",
    arg: "mode",
    env: "AZURE_VNET_IPCONFIG_MANAGEMENT",
    default: "static",
    help: `${IPCONFIG_MANAGEMENT.join("|")}: static uses the ipconfigs the NIC has; arm creates and returns them through Azure Resource Manager (docs/ipconfig-management.md)`,
  },
  {
    key: "warmIpTarget",
    flag: "--warm-ip-target",
    arg: "n",
    env: "AZURE_VNET_WARM_IP_TARGET",
    default: "8",
    help: "with arm: free secondary ipconfigs kept ready beyond those in use",
  },
  {
    key: "minIpTarget",
    flag: "--min-ip-target",
    arg: "n",
    env: "AZURE_VNET_MIN_IP_TARGET",
    default: "0",
    help: "with arm: secondary ipconfigs kept at least, used or not",
  },
  {
    key: "maxIpTarget",
    flag: "--max-ip-target",
    arg: "n",
    env: "AZURE_VNET_MAX_IP_TARGET",
    default: String(MAX_SECONDARY_IPCONFIGS),
    help: `with arm: secondary ipconfigs never exceeded (at most ${MAX_SECONDARY_IPCONFIGS}, Azure's limit per NIC)`,
  },
  {
    key: "ipCooldown",
    flag: "--ip-cooldown",
    arg: "seconds",
    env: "AZURE_VNET_IP_COOLDOWN",
    default: "300",
    help: "with arm: how long an unused ipconfig above the target stays before it is returned",
  },
  {
    key: "armEndpoint",
    flag: "--arm-endpoint",
    arg: "url",
    env: "AZURE_VNET_ARM_ENDPOINT",
    default: "https://management.azure.com",
    help: "with arm: Azure Resource Manager base URL (also the token's resource)",
  },
  {
    key: "armCaFile",
    flag: "--arm-ca-file",
    arg: "path",
    env: "AZURE_VNET_ARM_CA_FILE",
    help: "with arm: PEM file of CA certificates trusted for ARM besides the system's",
  },
  {
    key: "metricsListen",
    flag: "--metrics-listen",
    arg: "addr",
    env: "AZURE_VNET_METRICS_LISTEN",
    help: 'serve metrics on "host:port" or "unix:/path" (off unless set)',
  },
];

/** Adds the serve flags to `cmd`; defaults are applied later so env can sit between. */
export function registerServeOptions(cmd: Command): Command {
  for (const s of SETTINGS) {
    const dflt = s.default === undefined ? "" : `; default ${s.default}`;
    cmd.option(`${s.flag} <${s.arg}>`, `${s.help} (env ${s.env}${dflt})`);
  }
  return cmd;
}

/** Parses serve's arguments (without node, script or "serve") and `env`. Pure. */
export function parseServeConfig(argv: string[], env: NodeJS.ProcessEnv): ServeConfig {
  const cmd = registerServeOptions(new Command("serve"))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  try {
    cmd.parse(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) throw new ConfigError([err.message.replace(/^error: /, "")]);
    throw err;
  }
  return resolveServeConfig(cmd.opts(), env);
}

const absolutePath = v.pipe(v.string(), v.check(isAbsolute, "must be an absolute path"));

/** Case-insensitive choice, because LOG_LEVEL=INFO is a common spelling. */
function choice<const V extends readonly [string, ...string[]]>(values: V) {
  return v.pipe(
    v.string(),
    v.transform((s) => s.toLowerCase()),
    v.picklist(values, `must be one of ${values.join(", ")}`),
  );
}

/** A URL of the http or https scheme, kept without trailing slashes. */
function baseUrl(message: string) {
  return v.pipe(
    v.string(),
    v.check((s) => URL.canParse(s) && ["http:", "https:"].includes(new URL(s).protocol), message),
    v.transform((u) => u.replace(/\/+$/, "")),
  );
}

function seconds(min: number, max: number) {
  return wholeNumber(min, max, "a whole number of seconds");
}

function wholeNumber(min: number, max: number, what = "a whole number") {
  return v.pipe(
    v.string(),
    v.regex(/^\d+$/, `must be ${what}`),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );
}

/** A string read by `parse`, which returns the value or a sentence saying what is wrong. */
function parsedText<T extends object>(parse: (text: string) => T | string) {
  return v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const parsed = parse(dataset.value);
      if (typeof parsed !== "string") return parsed;
      addIssue({ message: parsed });
      return NEVER;
    }),
  );
}

const fieldSchema = v.object({
  // sun_path holds 108 bytes including the terminating NUL.
  socket: v.pipe(
    absolutePath,
    v.check((p) => Buffer.byteLength(p) <= 107, "is longer than 107 bytes, the limit for a unix socket path"),
  ),
  stateDir: absolutePath,
  metadataSource: choice(METADATA_SOURCES),
  metadataFile: v.optional(absolutePath),
  imdsUrl: baseUrl("must be an http:// or https:// URL"),
  wireserverUrl: baseUrl("must be an http:// or https:// URL"),
  logLevel: choice(LOG_LEVELS),
  logFormat: choice(LOG_FORMATS),
  reconcileInterval: seconds(1, 3600),
  reconcileGrace: seconds(1, 3600),
  ipconfigManagement: choice(IPCONFIG_MANAGEMENT),
  warmIpTarget: wholeNumber(0, MAX_SECONDARY_IPCONFIGS),
  minIpTarget: wholeNumber(0, MAX_SECONDARY_IPCONFIGS),
  maxIpTarget: wholeNumber(1, MAX_SECONDARY_IPCONFIGS),
  ipCooldown: seconds(0, 86_400),
  armEndpoint: baseUrl("must be an https:// URL (http:// only for tests)"),
  armCaFile: v.optional(absolutePath),
  nonMasqueradeCidrs: v.optional(
    parsedText((text) => {
      try {
        return parseCidrList(text, "the list");
      } catch (err) {
        return errorMessage(err).replace(/^the list: /, "");
      }
    }),
  ),
  metricsListen: v.optional(parsedText(parseListenAddress)),
});

/** Applies flag > environment > default to already-parsed flag values, then validates. */
export function resolveServeConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): ServeConfig {
  const raw: Partial<Record<Key, string>> = {};
  const origin: Partial<Record<Key, string>> = {};
  for (const s of SETTINGS) {
    const fromFlag = flags[s.key];
    // An empty variable counts as unset: managed-plugin config.json declares
    // its variables with "" as the value.
    const fromEnv = env[s.env] === "" ? undefined : env[s.env];
    if (typeof fromFlag === "string") [raw[s.key], origin[s.key]] = [fromFlag, s.flag];
    else if (fromEnv !== undefined) [raw[s.key], origin[s.key]] = [fromEnv, s.env];
    else [raw[s.key], origin[s.key]] = [s.default, `the default of ${s.flag}`];
  }

  const problems: string[] = [];
  const result = v.safeParse(fieldSchema, raw);
  if (!result.success) {
    for (const issue of result.issues) {
      const key = issuePath(issue)[0] as Key;
      problems.push(`invalid value ${JSON.stringify(raw[key])} for ${origin[key]}: ${issue.message}`);
    }
  }
  if (raw.metadataSource?.toLowerCase() === "file" && raw.metadataFile === undefined) {
    problems.push(
      `${origin.metadataSource} is "file" but no file was given: set --metadata-file or AZURE_VNET_METADATA_FILE to the JSON file of NIC addresses`,
    );
  }
  if (raw.ipconfigManagement?.toLowerCase() === "arm" && raw.metadataSource?.toLowerCase() === "file") {
    problems.push(
      `${origin.ipconfigManagement} is "arm" but ${origin.metadataSource} is "file": the ipconfigs ARM creates are seen through IMDS or the wireserver, never in a file; use --metadata-source auto, imds or wireserver`,
    );
  }
  if (result.success && result.output.minIpTarget > result.output.maxIpTarget) {
    problems.push(
      `${origin.minIpTarget} (${result.output.minIpTarget}) is above ${origin.maxIpTarget} (${result.output.maxIpTarget}): the minimum cannot exceed the maximum`,
    );
  }
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  // Optional in the schema, but always present (possibly undefined) in ServeConfig.
  const { metadataFile, metricsListen, nonMasqueradeCidrs, armCaFile, ...rest } = result.output;
  return { ...rest, metadataFile, metricsListen, nonMasqueradeCidrs, armCaFile };
}

/** Returns the address, or a sentence saying what is wrong with `text`. */
export function parseListenAddress(text: string): ListenAddress | string {
  const expected = 'expected "host:port" (e.g. 127.0.0.1:9417, [::1]:9417) or "unix:/absolute/path"';
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    return isAbsolute(path) ? { kind: "unix", path } : `the unix socket path must be absolute; ${expected}`;
  }
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return expected;
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `port ${m[3]} is outside 1-65535`;
  if (m[1] !== undefined && isIP(host) !== 6) return `${host} is not an IPv6 address; ${expected}`;
  const hostname = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;
  if (m[2] !== undefined && isIP(host) === 0 && !hostname.test(host)) return `${host} is not an IP address or host name; ${expected}`;
  return { kind: "tcp", host, port };
}
