import assert from "node:assert/strict";
import { Command } from "commander";
import { ConfigError, type ServeConfig, parseServeConfig, registerServeOptions } from "../../../driver/config";

/** Runs parseServeConfig and returns the ConfigError text it must throw. */
function errorOf(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseServeConfig(argv, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail("expected a ConfigError");
}

describe("parseServeConfig", () => {
  it("uses the defaults when nothing is given", () => {
    const expected: ServeConfig = {
      socket: "/run/docker/plugins/azure-vnet.sock",
      stateDir: "/var/lib/azure-vnet",
      metadataSource: "auto",
      metadataFile: undefined,
      imdsUrl: "http://169.254.169.254",
      wireserverUrl: "http://168.63.129.16",
      logLevel: "info",
      logFormat: "text",
      metricsListen: undefined,
      reconcileInterval: 60,
      reconcileGrace: 30,
      nonMasqueradeCidrs: undefined,
      ipconfigManagement: "static",
      warmIpTarget: 8,
      minIpTarget: 0,
      maxIpTarget: 255,
      ipCooldown: 300,
      armEndpoint: "https://management.azure.com",
      armCaFile: undefined,
    };
    assert.deepEqual(parseServeConfig([], {}), expected);
  });

  // key, flag, env, a value for env, a different value for the flag, the parsed flag value
  const table: [keyof ServeConfig, string, string, string, string, unknown][] = [
    ["socket", "--socket", "AZURE_VNET_SOCKET", "/env.sock", "/flag.sock", "/flag.sock"],
    ["stateDir", "--state-dir", "AZURE_VNET_STATE_DIR", "/env/state", "/flag/state", "/flag/state"],
    ["metadataSource", "--metadata-source", "AZURE_VNET_METADATA_SOURCE", "wireserver", "imds", "imds"],
    ["metadataFile", "--metadata-file", "AZURE_VNET_METADATA_FILE", "/env.json", "/flag.json", "/flag.json"],
    ["imdsUrl", "--imds-url", "AZURE_VNET_IMDS_URL", "http://10.0.0.1", "http://127.0.0.1:8080/", "http://127.0.0.1:8080"],
    ["wireserverUrl", "--wireserver-url", "AZURE_VNET_WIRESERVER_URL", "http://10.0.0.2", "https://ws.example", "https://ws.example"],
    ["logLevel", "--log-level", "LOG_LEVEL", "warn", "debug", "debug"],
    ["logFormat", "--log-format", "LOG_FORMAT", "json", "text", "text"],
    [
      "metricsListen",
      "--metrics-listen",
      "AZURE_VNET_METRICS_LISTEN",
      "unix:/run/m.sock",
      "127.0.0.1:9417",
      { kind: "tcp", host: "127.0.0.1", port: 9417 },
    ],
    ["reconcileInterval", "--reconcile-interval", "AZURE_VNET_RECONCILE_INTERVAL", "30", "5", 5],
    ["reconcileGrace", "--reconcile-grace", "AZURE_VNET_RECONCILE_GRACE", "20", "2", 2],
    ["ipconfigManagement", "--ipconfig-management", "AZURE_VNET_IPCONFIG_MANAGEMENT", "arm", "Static", "static"],
    ["warmIpTarget", "--warm-ip-target", "AZURE_VNET_WARM_IP_TARGET", "4", "16", 16],
    ["minIpTarget", "--min-ip-target", "AZURE_VNET_MIN_IP_TARGET", "2", "10", 10],
    ["maxIpTarget", "--max-ip-target", "AZURE_VNET_MAX_IP_TARGET", "50", "100", 100],
    ["ipCooldown", "--ip-cooldown", "AZURE_VNET_IP_COOLDOWN", "60", "0", 0],
    ["armEndpoint", "--arm-endpoint", "AZURE_VNET_ARM_ENDPOINT", "https://arm.env", "https://arm.example/", "https://arm.example"],
    [
      "armCaFile",
      "--arm-ca-file",
      "AZURE_VNET_ARM_CA_FILE",
      "/env/ca.pem",
      "/host/var/lib/azure-vnet/arm-ca.pem",
      "/host/var/lib/azure-vnet/arm-ca.pem",
    ],
    [
      "nonMasqueradeCidrs",
      "--non-masquerade-cidrs",
      "AZURE_VNET_NON_MASQUERADE_CIDRS",
      "10.0.0.0/8",
      " 10.1.0.0/16, 192.168.5.0/24",
      ["10.1.0.0/16", "192.168.5.0/24"],
    ],
  ];
  for (const [key, flag, envName, envValue, flagValue, parsedFlag] of table) {
    it(`${key}: ${flag} beats ${envName}, which beats the default`, () => {
      const fromEnv = parseServeConfig([], { [envName]: envValue })[key];
      assert.notDeepEqual(fromEnv, parseServeConfig([], {})[key], "env changes the default");
      assert.deepEqual(parseServeConfig([flag, flagValue], { [envName]: envValue })[key], parsedFlag);
      assert.deepEqual(parseServeConfig([`${flag}=${flagValue}`], {})[key], parsedFlag);
    });
  }

  it("treats an empty environment variable as unset", () => {
    assert.equal(parseServeConfig([], { LOG_LEVEL: "", AZURE_VNET_SOCKET: "" }).logLevel, "info");
  });

  it("accepts choices in any case", () => {
    const c = parseServeConfig(["--log-level", "DEBUG"], { LOG_FORMAT: "Json", AZURE_VNET_METADATA_SOURCE: "IMDS" });
    assert.equal(c.logLevel, "debug");
    assert.equal(c.logFormat, "json");
    assert.equal(c.metadataSource, "imds");
  });

  it("names the flag, the value and the allowed values for a bad choice", () => {
    assert.equal(errorOf(["--log-level", "verbose"]), 'invalid value "verbose" for --log-level: must be one of error, warn, info, debug');
    assert.equal(errorOf([], { LOG_FORMAT: "xml" }), 'invalid value "xml" for LOG_FORMAT: must be one of json, text');
    assert.equal(
      errorOf(["--metadata-source", "aws"]),
      'invalid value "aws" for --metadata-source: must be one of auto, imds, wireserver, file',
    );
  });

  it("blames the flag, not the environment, when the flag is the bad one", () => {
    const text = errorOf(["--log-level", "loud"], { LOG_LEVEL: "warn" });
    assert.match(text, /--log-level/);
    assert.doesNotMatch(text, /LOG_LEVEL/);
  });

  it("requires a metadata file when the source is file", () => {
    const text = errorOf(["--metadata-source", "file"]);
    assert.match(text, /--metadata-source is "file"/);
    assert.match(text, /--metadata-file or AZURE_VNET_METADATA_FILE/);
    const c = parseServeConfig(["--metadata-source", "file"], { AZURE_VNET_METADATA_FILE: "/etc/nics.json" });
    assert.equal(c.metadataFile, "/etc/nics.json");
  });

  it("names the entry of a non-masquerade list that is not a CIDR", () => {
    assert.equal(
      errorOf([], { AZURE_VNET_NON_MASQUERADE_CIDRS: "10.0.0.0/8,10.300.0.0/16" }),
      'invalid value "10.0.0.0/8,10.300.0.0/16" for AZURE_VNET_NON_MASQUERADE_CIDRS: 10.300.0.0/16 is not an IPv4 CIDR such as 10.1.0.0/16',
    );
  });

  it("explains bad ipconfig management settings", () => {
    assert.equal(errorOf(["--ipconfig-management", "auto"]), 'invalid value "auto" for --ipconfig-management: must be one of static, arm');
    assert.equal(errorOf(["--max-ip-target", "300"]), 'invalid value "300" for --max-ip-target: must be at most 255');
    assert.equal(
      errorOf([], { AZURE_VNET_WARM_IP_TARGET: "-1" }),
      'invalid value "-1" for AZURE_VNET_WARM_IP_TARGET: must be a whole number',
    );
    assert.equal(errorOf(["--ip-cooldown", "1.5"]), 'invalid value "1.5" for --ip-cooldown: must be a whole number of seconds');
    assert.equal(
      errorOf(["--min-ip-target", "20"], { AZURE_VNET_MAX_IP_TARGET: "10" }),
      "--min-ip-target (20) is above AZURE_VNET_MAX_IP_TARGET (10): the minimum cannot exceed the maximum",
    );
    assert.match(errorOf(["--arm-endpoint", "ftp://x"]), /--arm-endpoint: must be an https:\/\/ URL/);
    assert.match(errorOf(["--arm-ca-file", "ca.pem"]), /--arm-ca-file: must be an absolute path/);
  });

  it("requires absolute paths", () => {
    assert.match(errorOf(["--state-dir", "state"]), /invalid value "state" for --state-dir: must be an absolute path/);
    assert.match(errorOf([], { AZURE_VNET_METADATA_FILE: "nics.json" }), /AZURE_VNET_METADATA_FILE: must be an absolute path/);
  });

  it("rejects a socket path too long for a unix socket", () => {
    assert.match(errorOf(["--socket", "/" + "s".repeat(120)]), /--socket: is longer than 107 bytes/);
  });

  it("requires http(s) URLs", () => {
    assert.match(errorOf(["--imds-url", "ftp://169.254.169.254"]), /"ftp:\/\/169.254.169.254" for --imds-url: must be an http/);
    assert.match(errorOf([], { AZURE_VNET_WIRESERVER_URL: "168.63.129.16" }), /AZURE_VNET_WIRESERVER_URL: must be an http/);
  });

  it("parses metrics listen addresses", () => {
    const parse = (v: string) => parseServeConfig(["--metrics-listen", v], {}).metricsListen;
    assert.deepEqual(parse("[::1]:9417"), { kind: "tcp", host: "::1", port: 9417 });
    assert.deepEqual(parse("localhost:80"), { kind: "tcp", host: "localhost", port: 80 });
    assert.deepEqual(parse("unix:/run/azure-vnet-metrics.sock"), { kind: "unix", path: "/run/azure-vnet-metrics.sock" });
  });

  for (const [value, words] of [
    ["9417", /expected "host:port"/],
    ["127.0.0.1:70000", /port 70000 is outside 1-65535/],
    ["[10.0.0.1]:80", /not an IPv6 address/],
    ["unix:relative.sock", /must be absolute/],
    ["bad_host!:80", /not an IP address or host name/],
  ] as const) {
    it(`rejects metrics listen address ${value}`, () => {
      const text = errorOf([], { AZURE_VNET_METRICS_LISTEN: value });
      assert.ok(text.includes(`invalid value "${value}" for AZURE_VNET_METRICS_LISTEN`), text);
      assert.match(text, words);
    });
  }

  it("reports every problem at once", () => {
    const text = errorOf(["--log-level", "x", "--log-format", "y"], { AZURE_VNET_STATE_DIR: "rel" });
    assert.equal(text.split("\n").length, 3);
  });

  it("turns unknown flags, missing arguments and stray words into ConfigError", () => {
    assert.match(errorOf(["--bogus"]), /unknown option '--bogus'/);
    assert.match(errorOf(["--socket"]), /argument missing/);
    assert.match(errorOf(["extra"]), /too many arguments/);
  });
});

describe("registerServeOptions", () => {
  it("documents each flag's environment variable and default in --help", () => {
    // Whitespace folded: commander wraps long descriptions at the terminal width.
    const help = registerServeOptions(new Command("serve")).helpInformation().replace(/\s+/g, " ");
    for (const word of ["--socket <path>", "AZURE_VNET_SOCKET", "default /var/lib/azure-vnet", "LOG_LEVEL", "--metrics-listen <addr>"]) {
      assert.ok(help.includes(word), `help mentions ${word}`);
    }
  });
});
