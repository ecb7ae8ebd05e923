/** Platform DNS over real UDP and TCP on loopback. */
import { strict as assert } from "node:assert";
import { connect } from "node:net";
import * as dnsPacket from "dns-packet";
import { defaultTopology } from "../../../sim/topology";
import type { Platform } from "../../../sim/platform/platform";
import type { ListenAddress } from "../../../sim/platform/managed-http";
import {
  dnsQuery,
  makeStateDir,
  rcodeOf,
  removeStateDir,
  startTestPlatform,
  tcpExchange,
  udpExchange,
  waitFor,
  writeTopology,
} from "./platform-helpers";

/** Write bytes on a TCP connection and close it without waiting for anything back. */
function sendRawTcp(at: ListenAddress | undefined, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const conn = connect(at?.port ?? 0, at?.host ?? "127.0.0.1", () => conn.end(bytes, () => resolve()));
    conn.on("error", reject);
  });
}

type AAnswer = { type: string; name: string; data: string };

describe("platform DNS", function () {
  this.timeout(10_000);
  let dir: string;
  let platform: Platform;

  async function ask(name: string, type: dnsPacket.RecordType = "A"): Promise<dnsPacket.DecodedPacket> {
    const reply = await udpExchange(platform.addresses().dns, dnsQuery(name, type));
    assert.ok(reply, `no reply for ${type} ${name}`);
    return dnsPacket.decode(reply);
  }

  function addresses(packet: dnsPacket.DecodedPacket): string[] {
    return ((packet.answers ?? []) as AAnswer[]).filter((a) => a.type === "A").map((a) => a.data);
  }

  beforeEach(async () => {
    dir = makeStateDir();
    platform = await startTestPlatform(dir);
  });
  afterEach(async () => {
    await platform.close();
    removeStateDir(dir);
  });

  it("answers A for VM names, short and under internal.cloudapp.net", async () => {
    const short = await ask("vm1");
    assert.equal(short.id, 4242);
    assert.equal(short.type, "response");
    assert.equal(rcodeOf(short), 0);
    assert.deepEqual(addresses(short), ["10.0.0.4"]);
    assert.deepEqual(addresses(await ask("VM2.internal.cloudapp.net")), ["10.0.0.5"]);
  });

  it("answers A for the topology's internet names", async () => {
    assert.deepEqual(addresses(await ask("example.com")), ["198.51.100.10"]);
  });

  it("answers NXDOMAIN for unknown names and empty NOERROR for AAAA of known ones", async () => {
    const unknown = await ask("nothing.example.org");
    assert.equal(rcodeOf(unknown), 3);
    assert.deepEqual(unknown.answers, []);
    const aaaa = await ask("vm1", "AAAA");
    assert.equal(rcodeOf(aaaa), 0);
    assert.deepEqual(aaaa.answers, []);
  });

  it("answers over TCP as well", async () => {
    const reply = dnsPacket.decode(await tcpExchange(platform.addresses().dns, dnsQuery("vm2", "A", 7)));
    assert.equal(reply.id, 7);
    assert.deepEqual(addresses(reply), ["10.0.0.5"]);
  });

  it("survives garbage packets and keeps answering", async () => {
    const dns = platform.addresses().dns;
    const garbage = [
      Buffer.alloc(0),
      Buffer.from([1, 2, 3]),
      Buffer.from("this is not a dns packet at all, just text"),
      Buffer.concat([dnsQuery("vm1").subarray(0, 12), Buffer.from([0xff, 0xff, 0xff])]),
      Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff)),
    ];
    for (const payload of garbage) await udpExchange(dns, payload, 100);
    // A parseable header with a broken body earns FORMERR, as from a real server.
    const formerr = await udpExchange(dns, Buffer.concat([dnsQuery("vm1").subarray(0, 12), Buffer.from([0xff, 0xff, 0xff])]));
    assert.ok(formerr);
    assert.equal(rcodeOf(dnsPacket.decode(formerr)), 1);
    await sendRawTcp(dns, Buffer.from("GET / HTTP/1.0\r\n\r\n"));
    assert.deepEqual(addresses(await ask("vm1")), ["10.0.0.4"]);
    assert.deepEqual(addresses(dnsPacket.decode(await tcpExchange(dns, dnsQuery("vm1")))), ["10.0.0.4"]);
  });

  it("follows topology changes", async () => {
    const topo = defaultTopology();
    topo.internet.names["new.example.net"] = "198.51.100.20";
    writeTopology(dir, topo);
    await waitFor(async () => addresses(await ask("new.example.net"))[0] === "198.51.100.20", 500);
  });
});
