import { strict as assert } from "node:assert";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultEngine, enginePath, hasDebian13 } from "../../../sim/engines";
import { defaultTopology, parseTopology } from "../../../sim/topology";
import { dnsNameTable } from "../../../sim/platform/dns-answer";

describe("simulator engines and registry host", () => {
  const saved = process.env.AZSIM_DEBIAN13_DIR;
  let dir = "";
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "azsim-d13-"));
    process.env.AZSIM_DEBIAN13_DIR = dir;
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.AZSIM_DEBIAN13_DIR;
    else process.env.AZSIM_DEBIAN13_DIR = saved;
  });

  it("takes AZSIM_ENGINE as the default engine, debian12 when unset, and refuses others", () => {
    assert.equal(defaultEngine(undefined), "debian12");
    assert.equal(defaultEngine(""), "debian12");
    assert.equal(defaultEngine("debian13"), "debian13");
    assert.throws(() => defaultEngine("docker26"), /AZSIM_ENGINE="docker26": use debian12 or debian13/);
  });

  it("puts Debian 13's folder first in dockerd's PATH, and says how to get it when it is missing", () => {
    assert.equal(enginePath("debian12", "/usr/sbin:/usr/bin"), "/usr/sbin:/usr/bin");
    assert.throws(() => enginePath("debian13", "/usr/bin"), /usr\/sbin\/dockerd is missing: run scripts\/debian13-tools\.sh/);
    assert.equal(hasDebian13(), false);
    mkdirSync(join(dir, "usr/sbin"), { recursive: true });
    writeFileSync(join(dir, "usr/sbin/dockerd"), "");
    writeFileSync(join(dir, ".complete"), "docker.io=26.1.5\n");
    assert.equal(enginePath("debian13", "/usr/bin"), `${dir}/usr/sbin:${dir}/usr/bin:/usr/bin`);
    assert.equal(hasDebian13(), true);
  });

  it("accepts a VM's engine in the topology and refuses an unknown one", () => {
    const t = defaultTopology();
    t.vms[1].engine = "debian13";
    assert.equal(parseTopology(t).vms[1].engine, "debian13");
    assert.equal(parseTopology(defaultTopology()).vms[0].engine, undefined);
    assert.throws(() => parseTopology({ ...t, vms: [{ ...t.vms[0], engine: "debian11" }] }), /vms\.0\.engine/);
  });

  it("gives the registry host a default address and name that Azure DNS answers", () => {
    const t = parseTopology(JSON.parse(JSON.stringify({ ...defaultTopology(), registry: undefined })));
    assert.deepEqual(t.registry, { hostAddress: "192.0.2.10", name: "registry.azsim.internal", port: 5000 });
    assert.equal(dnsNameTable(t).get("registry.azsim.internal"), "192.0.2.10");
    const custom = parseTopology({ ...defaultTopology(), registry: { name: "acr.example.internal", port: 443 } });
    assert.deepEqual(custom.registry, { hostAddress: "192.0.2.10", name: "acr.example.internal", port: 443 });
    assert.throws(
      () => parseTopology({ ...defaultTopology(), registry: { name: "Registry" } }),
      /registry\.name: must be a lower-case DNS name/,
    );
  });
});
