/** What the benchmark reads back: the plugin's request log, CPU profiles, its topology. */
import { strict as assert } from "node:assert";
import { pluginCallTimes, totalMs, totalPrograms } from "../../../bench/plugin-log";
import { areaOf, summarizeProfile } from "../../../bench/profile";
import { MAX_SECONDARIES, addressAfter, benchTopology } from "../../../bench/topology";

describe("bench plugin log reader", () => {
  const log = [
    "2026-11-26T01:00:00.000Z info  IpamDriver.RequestAddress ok method=IpamDriver.RequestAddress address=10.0.0.10/22 outcome=ok durationMs=5.5",
    "2026-11-26T01:00:01.000Z info  NetworkDriver.CreateEndpoint ok method=NetworkDriver.CreateEndpoint outcome=ok durationMs=10 programs=2",
    "2026-11-26T01:00:02.000Z info  checkpoint loaded source=primary",
    "2026-11-26T01:00:05.000Z info  IpamDriver.RequestAddress ok method=IpamDriver.RequestAddress outcome=ok durationMs=7",
  ].join("\n");

  it("sums request durations by method within the time window", () => {
    const t = pluginCallTimes(log, Date.parse("2026-11-26T01:00:00.000Z"), Date.parse("2026-11-26T01:00:02.000Z"));
    assert.deepEqual(t.get("IpamDriver.RequestAddress"), { count: 1, totalMs: 5.5, programs: 0 });
    assert.deepEqual(t.get("NetworkDriver.CreateEndpoint"), { count: 1, totalMs: 10, programs: 2 });
    assert.equal(totalMs(t), 15.5);
    assert.equal(totalPrograms(t), 2, "the programs each request started, from its log line");
  });
});

describe("bench profile summary", () => {
  it("puts source URLs into areas: packages, driver modules, Node, V8 pseudo-frames", () => {
    assert.equal(areaOf("file:///w/node_modules/netlink/lib/raw.js", "send"), "netlink");
    assert.equal(areaOf("file:///w/node_modules/@scope/pkg/x.js", "f"), "@scope/pkg");
    assert.equal(areaOf("file:///w/dist/driver/state/store.js", "save"), "driver/state");
    assert.equal(areaOf("file:///w/dist/driver/plugin.js", "start"), "driver");
    assert.equal(areaOf("node:internal/child_process", "spawn"), "node internals");
    assert.equal(areaOf("", "(garbage collector)"), "(garbage collector)");
    assert.equal(areaOf("", "writev"), "(native)");
  });

  it("charges each sample's time to its node and leaves idle time out of busy time", () => {
    const frame = (functionName: string, url = "") => ({ functionName, url, lineNumber: 0 });
    const s = summarizeProfile({
      nodes: [
        { id: 1, callFrame: frame("(idle)") },
        { id: 2, callFrame: frame("send", "file:///w/node_modules/netlink/lib/raw.js") },
        { id: 3, callFrame: frame("save", "file:///w/dist/driver/state/store.js") },
      ],
      samples: [2, 2, 3, 1],
      timeDeltas: [1000, 3000, 2000, 5000],
    });
    assert.equal(s.busyMs, 6);
    assert.equal(s.idleMs, 5);
    assert.deepEqual(s.byArea, [
      ["netlink", 4],
      ["driver/state", 2],
    ]);
  });
});

describe("bench topology", () => {
  it("counts addresses across octets", () => {
    assert.equal(addressAfter("10.0.0.250", 10), "10.0.1.4");
    assert.equal(addressAfter("198.18.0.1", 0), "198.18.0.1");
  });

  it("gives vm1 Azure's maximum of secondary ipconfigs inside a /22", () => {
    const topo = benchTopology();
    assert.equal(topo.vnet.subnet, "10.0.0.0/22");
    assert.equal(topo.vms[0].nic.secondaries.length, MAX_SECONDARIES);
    assert.equal(topo.vms[0].nic.secondaries.at(-1)?.address, "10.0.1.8");
  });
});
