/** The platform as the simulator runs it: a separate process with a ready file. */
import { strict as assert } from "node:assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as dnsPacket from "dns-packet";
import { SOURCE_HEADER, dnsQuery, httpGet, makeStateDir, removeStateDir, udpExchange, waitFor } from "./platform-helpers";
import type { ListenAddress } from "../../../sim/platform/managed-http";

const MAIN = resolve(__dirname, "../../../sim/platform/main.js");

function addressOf(text: string): ListenAddress {
  const [host, port] = text.split(":");
  return { host, port: Number(port) };
}

describe("platform CLI", function () {
  this.timeout(15_000);
  let dir: string;
  let child: ChildProcess | undefined;
  let stdout = "";

  beforeEach(() => {
    dir = makeStateDir();
    stdout = "";
  });
  afterEach(() => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    child = undefined;
    removeStateDir(dir);
  });

  it("starts on the given addresses, writes the ready file, logs requests, stops on SIGTERM", async () => {
    const readyFile = join(dir, "ready.json");
    // Every address is explicit: the test must never touch the real platform addresses.
    child = spawn(
      process.execPath,
      [
        MAIN,
        "--state-dir",
        dir,
        "--imds-listen",
        "127.0.0.1:0",
        "--wireserver-listen",
        "127.0.0.1:0",
        "--wireserver-alt-listen",
        "127.0.0.1:0",
        "--dns-listen",
        "127.0.0.1:0",
        "--ready-file",
        readyFile,
        "--identify-by-header",
        SOURCE_HEADER,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
    await waitFor(async () => existsSync(readyFile), 5000);
    const ready = JSON.parse(readFileSync(readyFile, "utf8")) as Record<string, string>;
    assert.equal(ready.pid, child.pid);
    for (const key of ["imds", "wireserver", "wireserverAlt", "dns"]) assert.match(ready[key], /^127\.0\.0\.1:[1-9]\d*$/);

    const res = await httpGet(addressOf(ready.imds), "/metadata/instance/compute?api-version=2021-02-01", {
      Metadata: "true",
      [SOURCE_HEADER]: "10.0.0.5",
    });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).name, "vm2");
    const dns = await udpExchange(addressOf(ready.dns), dnsQuery("vm1"));
    assert.ok(dns);
    assert.equal(dnsPacket.decode(dns).answers?.length, 1);

    await waitFor(async () => /GET \/metadata\/instance\/compute\S* 200/.test(stdout), 1000);
    assert.match(stdout, /^\d{4}-\d{2}-\d{2}T\S+Z imds 10\.0\.0\.5 GET \/metadata\/instance\/compute\S* 200 \d+ms$/m);

    const exited = new Promise<number | null>((done) => child?.once("exit", (code) => done(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
  });

  it("exits 1 with usage when --state-dir is missing or an address is bad", () => {
    const missing = spawnSync(process.execPath, [MAIN], { encoding: "utf8" });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /--state-dir is required/);
    assert.match(missing.stderr, /usage:/);
    const bad = spawnSync(process.execPath, [MAIN, "--state-dir", dir, "--imds-listen", "nowhere"], { encoding: "utf8" });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--imds-listen/);
  });

  it("exits 1 without usage when topology.json is missing", () => {
    const empty = join(dir, "empty");
    const res = spawnSync(
      process.execPath,
      [
        MAIN,
        "--state-dir",
        empty,
        "--imds-listen",
        "127.0.0.1:0",
        "--wireserver-listen",
        "off",
        "--wireserver-alt-listen",
        "off",
        "--dns-listen",
        "off",
      ],
      { encoding: "utf8" },
    );
    assert.equal(res.status, 1);
    assert.match(res.stderr, /topology\.json/);
    assert.doesNotMatch(res.stderr, /usage:/);
  });
});
