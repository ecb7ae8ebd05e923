/**
 * A client still uploading an oversized body when the plugin refuses it must
 * be able to read the refusal. If the plugin hangs up with the rest of the
 * body unread, the client's next write fails (EPIPE) and the answer is lost:
 * the e2e fuzzer saw that under load. The server runs in a process of its
 * own, as the plugin does; in one process the event loop hides the race.
 */
import { strict as assert } from "node:assert";
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { send } from "../../e2e/helpers/fuzz-client";
import type { FuzzCase } from "../../e2e/helpers/fuzz-cases";

const HARNESS = resolve(__dirname, "../protocol/harness.js");

describe("an oversized body that is still arriving when it is refused", function () {
  this.timeout(60_000);
  let server: ChildProcess;
  let socket: string;

  before(async function () {
    const script = `require(${JSON.stringify(HARNESS)}).startHarness().then((h) => console.log(h.socketPath))`;
    server = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    socket = await new Promise<string>((ok, fail) => {
      server.once("error", fail);
      server.stdout?.once("data", (d: Buffer) => ok(d.toString().trim()));
    });
  });

  after(function () {
    server?.kill();
  });

  it("gets its JSON error every time, not a cut connection", async function () {
    // 1.8 MB once encoded: "é" is two bytes.
    const body = Buffer.from(JSON.stringify({ NetworkID: "é".repeat(921_600) }));
    const c: FuzzCase = {
      index: 0,
      category: "oversized",
      note: "",
      httpMethod: "POST",
      path: "/NetworkDriver.CreateNetwork",
      body,
      headers: {},
      expect: "error",
    };
    const lost: string[] = [];
    const worker = async () => {
      for (let i = 0; i < 40; i++) {
        const a = await send(socket, c, 5_000);
        if (a.status !== 500 || !a.text.includes("exceeds the 1 MiB limit"))
          lost.push(`status ${a.status} ${a.transportError ?? ""} ${a.text.slice(0, 80)}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    assert.deepEqual(lost.slice(0, 5), [], `${lost.length} of 320 refusals never reached the client`);
  });
});
