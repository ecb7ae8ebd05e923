import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { promises as fs } from "node:fs";
import net from "node:net";
import path from "node:path";
import { serveUnixSocket } from "../../../driver/protocol/server";
import { EP_ID, NET_ID, makeTempDir, sendRequest, sleep, startHarness } from "./harness";

/** Leave a dead socket file behind, the way a crashed plugin does. */
async function leaveStaleSocket(socketPath: string): Promise<void> {
  const script = `require("net").createServer().listen(${JSON.stringify(socketPath)}, () => console.log("ready"))`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  await once(child.stdout, "data");
  child.kill("SIGKILL");
  await once(child, "exit");
}

function listenOn(socketPath: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((conn) => conn.end());
    server.once("error", reject);
    server.listen(socketPath, () => resolve(server));
  });
}

const okApp = (_req: unknown, res: { end(s: string): void }) => res.end("{}");

describe("serveUnixSocket", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("creates the parent directory 0755 and the socket 0600", async () => {
    const socketPath = path.join(dir, "run", "docker", "plugins", "azvnet.sock");
    const server = await serveUnixSocket(okApp, socketPath);
    try {
      const sock = await fs.stat(socketPath);
      assert.ok(sock.isSocket());
      assert.equal(sock.mode & 0o777, 0o600);
      assert.equal((await fs.stat(path.dirname(socketPath))).mode & 0o777, 0o755);
      assert.equal((await sendRequest(socketPath, "/x")).text, "{}");
    } finally {
      await server.close();
    }
  });

  it("replaces a stale socket left by a dead instance", async () => {
    const socketPath = path.join(dir, "p.sock");
    await leaveStaleSocket(socketPath);
    assert.ok((await fs.lstat(socketPath)).isSocket());
    const server = await serveUnixSocket(okApp, socketPath);
    try {
      assert.equal((await sendRequest(socketPath, "/x")).status, 200);
      assert.equal((await fs.stat(socketPath)).mode & 0o777, 0o600);
    } finally {
      await server.close();
    }
  });

  it("refuses to take over a socket another instance is serving", async () => {
    const socketPath = path.join(dir, "p.sock");
    const other = await listenOn(socketPath);
    try {
      await assert.rejects(serveUnixSocket(okApp, socketPath), {
        message: `${socketPath} is in use: another plugin instance is already running`,
      });
      // The running instance keeps its socket.
      const conn = net.createConnection(socketPath);
      await once(conn, "connect");
      conn.destroy();
    } finally {
      other.close();
    }
  });

  it("refuses to delete something that is not a socket", async () => {
    const socketPath = path.join(dir, "p.sock");
    await fs.writeFile(socketPath, "precious");
    await assert.rejects(serveUnixSocket(okApp, socketPath), {
      message: `${socketPath} exists and is not a socket; refusing to replace it`,
    });
    assert.equal(await fs.readFile(socketPath, "utf8"), "precious");
  });

  it("close() removes the socket, and a second close() is harmless", async () => {
    const socketPath = path.join(dir, "p.sock");
    const server = await serveUnixSocket(okApp, socketPath);
    await server.close();
    await assert.rejects(fs.lstat(socketPath), { code: "ENOENT" });
    await server.close();
    await assert.rejects(sendRequest(socketPath, "/x"), { code: "ENOENT" });
  });

  it("close() lets an in-flight request finish first", async () => {
    const h = await startHarness();
    h.network.leave.callsFake(() => sleep(200));
    const inFlight = sendRequest(h.socketPath, "/NetworkDriver.Leave", { NetworkID: NET_ID, EndpointID: EP_ID });
    await sleep(50);
    const started = Date.now();
    await h.stop();
    assert.ok(Date.now() - started >= 100, "close() should have waited for the request");
    const r = await inFlight;
    assert.equal(r.status, 200);
    await assert.rejects(fs.lstat(h.socketPath), { code: "ENOENT" });
  });

  it("close() gives up on a request that outlasts the drain timeout", async () => {
    const h = await startHarness({ drainTimeoutMs: 100 });
    h.network.join.returns(new Promise(() => undefined));
    // Settle handlers are attached now: the rejection arrives while close() runs.
    const inFlight = sendRequest(h.socketPath, "/NetworkDriver.Join", { NetworkID: NET_ID, EndpointID: EP_ID }).then(
      (r) => `answered ${r.status}`,
      (err: NodeJS.ErrnoException) => err.code,
    );
    await sleep(50);
    const started = Date.now();
    await h.stop();
    assert.ok(Date.now() - started < 2000);
    assert.equal(await inFlight, "ECONNRESET");
  });
});
