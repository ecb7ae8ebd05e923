/** Managed-identity tokens from IMDS and Azure Resource Manager's VM and NIC API, over real HTTP(S) on loopback. */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { defaultTopology, type Topology } from "../../../sim/topology";
import { twoNicTopology } from "../../e2e/helpers/topologies";
import { startPlatform, type Platform } from "../../../sim/platform/platform";
import { parseKnobs, writeKnobs, type Knobs } from "../../../sim/platform/knobs";
import { readTopologyFile } from "../../../sim/ipconfig-commit";
import { makeArmCertificates } from "../../../sim/arm-tls";
import { lbBackendPoolId, nicId, resourceGroupId, subnetId, vmResourceId } from "../../../sim/platform/arm-ids";
import { fullRuleset } from "../../../sim/fabric-rules";
import { IPCONFIG_LIMIT_CODE } from "../../../sim/platform/arm-nic-put";
import { LOOPBACK, SOURCE_HEADER, httpRequest, imdsGet, makeStateDir, removeStateDir, waitFor, type HttpResult } from "./platform-helpers";

const API = "api-version=2024-05-01";
const TOKEN_PATH = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F";
const SOURCES: Record<string, string> = { vm1: "10.0.0.4", vm2: "10.0.0.5" };

interface IpConfigDoc {
  name: string;
  properties: { privateIPAddress: string; primary: boolean; privateIPAllocationMethod: string; subnet: { id: string } };
}
interface NicDoc {
  etag: string;
  properties: { provisioningState: string; macAddress: string; ipConfigurations: IpConfigDoc[] };
}

describe("simulated Azure Resource Manager and managed identity", function () {
  this.timeout(15_000);
  let dir: string;
  let platform: Platform;

  async function start(knobs: Knobs = {}, tls?: { cert: string; key: string }, topology?: Topology): Promise<void> {
    dir = makeStateDir(topology);
    writeKnobs(dir, { arm: { provisioningDelayMs: 300 }, ...knobs });
    platform = await startPlatform({ stateDir: dir, imds: LOOPBACK, arm: LOOPBACK, armTls: tls, identifyByHeader: SOURCE_HEADER });
  }
  afterEach(async () => {
    await platform.close();
    removeStateDir(dir);
  });

  async function knobs(k: Knobs): Promise<void> {
    writeKnobs(dir, k);
    await waitFor(async () => JSON.stringify(platform.state.knobs) === JSON.stringify(parseKnobs(k)), 1000);
  }

  async function token(vm: string): Promise<string> {
    const res = await imdsGet(platform, SOURCES[vm], TOKEN_PATH);
    assert.equal(res.status, 200, res.body);
    return (JSON.parse(res.body) as { access_token: string }).access_token;
  }

  async function arm(
    vm: string | undefined,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpResult> {
    const auth: Record<string, string> = vm ? { Authorization: `Bearer ${await token(vm)}` } : {};
    const sep = path.includes("?") ? "&" : "?";
    const json: Record<string, string> = body === undefined ? {} : { "Content-Type": "application/json" };
    return httpRequest(
      platform.addresses().arm,
      method,
      `${path}${sep}${API}`,
      { ...auth, ...json, ...headers },
      body === undefined ? undefined : JSON.stringify(body),
    );
  }

  const nic = (vm: string) => nicId(vm);
  async function getNic(vm: string): Promise<NicDoc> {
    const res = await arm(vm, "GET", nic(vm));
    assert.equal(res.status, 200, res.body);
    return JSON.parse(res.body) as NicDoc;
  }

  /** The NIC with one more secondary (static address, or dynamic when address is undefined). */
  function withSecondary(doc: NicDoc, name: string, address?: string): NicDoc {
    const extra = {
      name,
      properties: {
        primary: false,
        subnet: { id: subnetId() },
        ...(address ? { privateIPAddress: address, privateIPAllocationMethod: "Static" } : { privateIPAllocationMethod: "Dynamic" }),
      },
    } as IpConfigDoc;
    return { ...doc, properties: { ...doc.properties, ipConfigurations: [...doc.properties.ipConfigurations, extra] } };
  }

  async function poll(res: HttpResult, vm: string): Promise<{ status: string; error?: { code: string } }> {
    const url = new URL(String(res.headers["azure-asyncoperation"]));
    assert.equal(url.host, "management.azure.com");
    for (;;) {
      const op = await arm(vm, "GET", url.pathname);
      assert.equal(op.status, 200, op.body);
      const doc = JSON.parse(op.body) as { status: string; error?: { code: string } };
      if (doc.status !== "InProgress") return doc;
      assert.equal(op.headers["retry-after"], "1");
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const imdsAddresses = async (vm: string) =>
    (
      JSON.parse((await imdsGet(platform, SOURCES[vm])).body) as { interface: { ipv4: { ipAddress: { privateIpAddress: string }[] } }[] }
    ).interface[0].ipv4.ipAddress.map((a) => a.privateIpAddress);

  describe("IMDS identity endpoint", () => {
    it("issues a token for the asking VM with Azure's string-typed numbers", async () => {
      await start();
      const res = await imdsGet(platform, "10.0.0.4", TOKEN_PATH);
      assert.equal(res.status, 200, res.body);
      const doc = JSON.parse(res.body) as Record<string, unknown>;
      for (const field of ["expires_in", "expires_on", "not_before"]) assert.equal(typeof doc[field], "string", field);
      assert.equal(doc.resource, "https://management.azure.com/");
      assert.equal(doc.token_type, "Bearer");
      assert.ok(Number(doc.expires_on) > Date.now() / 1000 + 3600);
      const claims = JSON.parse(Buffer.from(String(doc.access_token).split(".")[1], "base64url").toString()) as { xms_mirid: string };
      assert.equal(claims.xms_mirid, vmResourceId("vm1"));
    });

    it("answers 400 Identity not found for a VM without identity, the knob's status, and needs Metadata and resource", async () => {
      await start({ vms: { vm2: { identity: false } } });
      const none = await imdsGet(platform, "10.0.0.5", TOKEN_PATH);
      assert.equal(none.status, 400);
      assert.deepEqual(JSON.parse(none.body), { error: "invalid_request", error_description: "Identity not found" });
      assert.equal((await imdsGet(platform, "10.0.0.4", TOKEN_PATH)).status, 200);
      const noResource = await imdsGet(platform, "10.0.0.4", "/metadata/identity/oauth2/token?api-version=2018-02-01");
      assert.equal(noResource.status, 400);
      const noHeader = await httpRequest(platform.addresses().imds, "GET", TOKEN_PATH, { [SOURCE_HEADER]: "10.0.0.4" });
      assert.equal(noHeader.status, 400);
      await knobs({ vms: { vm1: { tokenStatus: 500 } } });
      assert.equal((await imdsGet(platform, "10.0.0.4", TOKEN_PATH)).status, 500);
    });

    it("puts ARM's ids in the compute metadata", async () => {
      await start();
      const compute = JSON.parse((await imdsGet(platform, "10.0.0.5", "/metadata/instance/compute?api-version=2021-02-01")).body);
      assert.equal(compute.resourceId, vmResourceId("vm2"));
      assert.equal(
        compute.resourceId,
        `/subscriptions/${compute.subscriptionId}/resourceGroups/${compute.resourceGroupName}/providers/Microsoft.Compute/virtualMachines/${compute.name}`,
      );
    });
  });

  describe("ARM", () => {
    it("refuses calls without a valid bearer token (401) and without api-version (400)", async () => {
      await start();
      const none = await arm(undefined, "GET", vmResourceId("vm1"));
      assert.equal(none.status, 401);
      assert.equal(JSON.parse(none.body).error.code, "AuthenticationFailed");
      const t = await token("vm1");
      const forged = `${t.split(".").slice(0, 2).join(".")}.AAAA`;
      const bad = await arm(undefined, "GET", vmResourceId("vm1"), undefined, { Authorization: `Bearer ${forged}` });
      assert.equal(bad.status, 401);
      assert.equal(JSON.parse(bad.body).error.code, "InvalidAuthenticationToken");
      const noVersion = await httpRequest(platform.addresses().arm, "GET", vmResourceId("vm1"), { Authorization: `Bearer ${t}` });
      assert.equal(noVersion.status, 400);
      assert.equal(JSON.parse(noVersion.body).error.code, "MissingApiVersionParameter");
    });

    it("serves the VM (its NIC) and the NIC (ARM's MAC, every ipconfig, an etag)", async () => {
      await start();
      const vm = JSON.parse((await arm("vm1", "GET", vmResourceId("vm1"))).body);
      assert.deepEqual(vm.properties.networkProfile.networkInterfaces, [{ id: nic("vm1"), properties: { primary: true } }]);
      const doc = await getNic("vm1");
      assert.equal(doc.properties.macAddress, "00-0D-3A-00-00-01");
      assert.equal(doc.properties.provisioningState, "Succeeded");
      assert.equal(doc.properties.ipConfigurations.length, 9);
      assert.deepEqual(
        doc.properties.ipConfigurations.filter((c) => c.properties.primary).map((c) => c.properties.privateIPAddress),
        ["10.0.0.4"],
      );
      assert.match(doc.etag, /^W\/"[0-9a-f-]{36}"$/);
      assert.equal(
        (await arm("vm1", "GET", `/subscriptions/${"0".repeat(8)}/resourceGroups/x/providers/Microsoft.Network/networkInterfaces/vm1-nic`))
          .status,
        404,
      );
    });

    it("applies a PUT only when its operation succeeds: Updating, 409 meanwhile, then topology and IMDS", async () => {
      await start({ arm: { provisioningDelayMs: 600 } });
      const before = await getNic("vm1");
      const put = await arm("vm1", "PUT", nic("vm1"), withSecondary(before, "azvnet-a", "10.0.0.40"), { "If-Match": before.etag });
      assert.equal(put.status, 200, put.body);
      assert.equal((JSON.parse(put.body) as NicDoc).properties.provisioningState, "Updating");
      assert.equal((await getNic("vm1")).properties.provisioningState, "Updating");
      assert.ok(!(await imdsAddresses("vm1")).includes("10.0.0.40"), "IMDS listed the address before the operation succeeded");
      assert.ok(!readTopologyFile(dir).vms[0].nic.secondaries.some((s) => s.address === "10.0.0.40"));
      const again = await arm("vm1", "PUT", nic("vm1"), withSecondary(before, "azvnet-b", "10.0.0.41"));
      assert.equal(again.status, 409);
      assert.equal(JSON.parse(again.body).error.code, "AnotherOperationInProgress");
      assert.equal((await poll(put, "vm1")).status, "Succeeded");
      assert.ok((await imdsAddresses("vm1")).includes("10.0.0.40"));
      const after = await getNic("vm1");
      assert.equal(after.properties.provisioningState, "Succeeded");
      assert.equal(after.properties.ipConfigurations.length, 10, "the user's ipconfigs were kept");
      assert.notEqual(after.etag, before.etag);
      // Leaving an ipconfig out deletes it.
      const fewer = {
        ...after,
        properties: {
          ...after.properties,
          ipConfigurations: after.properties.ipConfigurations.filter((c) => c.properties.privateIPAddress !== "10.0.0.10"),
        },
      };
      assert.equal((await poll(await arm("vm1", "PUT", nic("vm1"), fewer), "vm1")).status, "Succeeded");
      assert.ok(!(await imdsAddresses("vm1")).includes("10.0.0.10"));
      assert.ok((await imdsAddresses("vm1")).includes("10.0.0.40"));
    });

    it("carries out an operation that was running when the platform stopped, once it starts again", async () => {
      await start({ arm: { provisioningDelayMs: 800 } });
      const put = await arm("vm2", "PUT", nic("vm2"), withSecondary(await getNic("vm2"), "survivor", "10.0.0.45"));
      assert.equal(put.status, 200, put.body);
      await platform.close();
      assert.ok(!readTopologyFile(dir).vms[1].nic.secondaries.some((s) => s.address === "10.0.0.45"));
      platform = await startPlatform({ stateDir: dir, imds: LOOPBACK, arm: LOOPBACK, identifyByHeader: SOURCE_HEADER });
      assert.equal((await getNic("vm2")).properties.provisioningState, "Updating");
      assert.equal((await poll(put, "vm2")).status, "Succeeded");
      assert.ok((await imdsAddresses("vm2")).includes("10.0.0.45"));
    });

    it("answers 412 PreconditionFailed to a PUT with a stale etag", async () => {
      await start({ arm: { provisioningDelayMs: 0 } });
      const first = await getNic("vm1");
      await poll(await arm("vm1", "PUT", nic("vm1"), withSecondary(first, "x1", "10.0.0.42"), { "If-Match": first.etag }), "vm1");
      const stale = await arm("vm1", "PUT", nic("vm1"), withSecondary(first, "x2", "10.0.0.43"), { "If-Match": first.etag });
      assert.equal(stale.status, 412);
      assert.equal(JSON.parse(stale.body).error.code, "PreconditionFailed");
    });

    it("gives an address to exactly one of two VMs racing for it; the other gets PrivateIPAddressInUse", async () => {
      await start();
      const [n1, n2] = await Promise.all([getNic("vm1"), getNic("vm2")]);
      const [r1, r2] = await Promise.all([
        arm("vm1", "PUT", nic("vm1"), withSecondary(n1, "race", "10.0.0.50")),
        arm("vm2", "PUT", nic("vm2"), withSecondary(n2, "race", "10.0.0.50")),
      ]);
      const statuses = [r1.status, r2.status].sort();
      assert.deepEqual(statuses, [200, 400], `${r1.body} ${r2.body}`);
      const loser = r1.status === 400 ? r1 : r2;
      assert.equal(JSON.parse(loser.body).error.code, "PrivateIPAddressInUse");
      assert.equal((await poll(r1.status === 200 ? r1 : r2, r1.status === 200 ? "vm1" : "vm2")).status, "Succeeded");
      // An address another VM holds is refused too.
      const taken = await arm("vm1", "PUT", nic("vm1"), withSecondary(await getNic("vm1"), "taken", "10.0.0.20"));
      assert.equal(JSON.parse(taken.body).error.code, "PrivateIPAddressInUse");
    });

    it("refuses an address outside the subnet and more than 256 ipconfigs; picks a free address for Dynamic", async () => {
      await start({ arm: { provisioningDelayMs: 0 } });
      const doc = await getNic("vm1");
      const outside = await arm("vm1", "PUT", nic("vm1"), withSecondary(doc, "out", "10.0.1.9"));
      assert.equal(outside.status, 400);
      assert.equal(JSON.parse(outside.body).error.code, "PrivateIPAddressNotInSubnet");
      let many = doc;
      for (let i = 0; many.properties.ipConfigurations.length < 257; i++) many = withSecondary(many, `n${i}`, `10.0.0.${30 + (i % 200)}`);
      const tooMany = await arm("vm1", "PUT", nic("vm1"), many);
      assert.equal(tooMany.status, 400);
      assert.equal(JSON.parse(tooMany.body).error.code, IPCONFIG_LIMIT_CODE);
      const dyn = await arm("vm1", "PUT", nic("vm1"), withSecondary(doc, "dyn"));
      assert.equal(dyn.status, 200, dyn.body);
      await poll(dyn, "vm1");
      const made = (await getNic("vm1")).properties.ipConfigurations.find((c) => c.name === "dyn");
      // .0-.3 are Azure's, .4 and .5 the primaries: the first free one is .6.
      assert.equal(made?.properties.privateIPAddress, "10.0.0.6");
      assert.equal(made?.properties.privateIPAllocationMethod, "Dynamic");
    });

    it("keeps what a PUT sends back unchanged: user ipconfig names, a public IP, a Dynamic address", async () => {
      await start({ arm: { provisioningDelayMs: 0 } });
      const doc = await getNic("vm1");
      const names = doc.properties.ipConfigurations.map((c) => c.name);
      assert.deepEqual(names.slice(0, 2), ["ipconfig1", "ipconfig-10-0-0-10"]);
      const withPip = doc.properties.ipConfigurations.find((c) => c.properties.privateIPAddress === "10.0.0.17") as unknown as {
        properties: { publicIPAddress: { id: string } };
      };
      assert.match(withPip.properties.publicIPAddress.id, /\/publicIPAddresses\/pip-203-0-113-17$/);
      await poll(await arm("vm1", "PUT", nic("vm1"), withSecondary(doc, "dyn")), "vm1");
      const grown = await getNic("vm1");
      // Sent back as GET gave it (Dynamic with its address, and once more without one): nothing moves.
      const again = structuredClone(grown);
      const dyn = again.properties.ipConfigurations.find((c) => c.name === "dyn") as IpConfigDoc;
      const address = dyn.properties.privateIPAddress;
      delete (dyn.properties as Partial<IpConfigDoc["properties"]>).privateIPAddress;
      assert.equal((await poll(await arm("vm1", "PUT", nic("vm1"), again, { "If-Match": grown.etag }), "vm1")).status, "Succeeded");
      const after = await getNic("vm1");
      assert.equal(after.etag, grown.etag);
      assert.equal(after.properties.ipConfigurations.find((c) => c.name === "dyn")?.properties.privateIPAddress, address);
      const topo = readTopologyFile(dir);
      assert.equal(topo.vms[0].nic.secondaries.find((c) => c.address === "10.0.0.17")?.publicIp, "203.0.113.17");
    });

    it("puts an ipconfig into a load balancer's backend pool (the fabric's DNAT follows) and an ASG; refuses ids it does not know", async () => {
      await start({ arm: { provisioningDelayMs: 0 } });
      const pool = lbBackendPoolId("lb1", "backend");
      const asg = `${resourceGroupId()}/providers/Microsoft.Network/applicationSecurityGroups/web`;
      const dnatTo = (address: string) => fullRuleset(readTopologyFile(dir)).includes(`--to-destination ${address}:8080`);
      const withRefs = (doc: NicDoc, address: string, refs: Record<string, unknown>): NicDoc => {
        const copy = structuredClone(doc);
        const c = copy.properties.ipConfigurations.find((x) => x.properties.privateIPAddress === address) as IpConfigDoc;
        Object.assign(c.properties, refs);
        return copy;
      };
      const doc = await getNic("vm1");
      assert.ok(dnatTo("10.0.0.12") && !dnatTo("10.0.0.11"), "the static backend pool only");
      const lower = pool.replace("Microsoft.Network/loadBalancers", "microsoft.network/LOADBALANCERS");
      const joined = withRefs(doc, "10.0.0.11", {
        loadBalancerBackendAddressPools: [{ id: lower }],
        applicationSecurityGroups: [{ id: asg }],
      });
      assert.equal((await poll(await arm("vm1", "PUT", nic("vm1"), joined), "vm1")).status, "Succeeded");
      assert.ok(dnatTo("10.0.0.11"), "the joined ipconfig is a backend");
      assert.ok(dnatTo("10.0.0.12"), "the static backend stays");
      const echoed = (await getNic("vm1")).properties.ipConfigurations.find(
        (c) => c.properties.privateIPAddress === "10.0.0.11",
      ) as unknown as {
        properties: { applicationSecurityGroups: { id: string }[]; loadBalancerBackendAddressPools: { id: string }[] };
      };
      assert.deepEqual(echoed.properties.applicationSecurityGroups, [{ id: asg }]);
      assert.deepEqual(echoed.properties.loadBalancerBackendAddressPools, [{ id: lower }]);
      for (const refs of [
        { loadBalancerBackendAddressPools: [{ id: lbBackendPoolId("lb1", "other") }] },
        { loadBalancerBackendAddressPools: [{ id: lbBackendPoolId("nolb", "backend") }] },
        { applicationSecurityGroups: [{ id: asg.replace("/sim-rg/", "/other-rg/") }] },
        { applicationSecurityGroups: [{ id: `${resourceGroupId()}/providers/Microsoft.Network/networkSecurityGroups/web` }] },
      ]) {
        const res = await arm("vm1", "PUT", nic("vm1"), withRefs(await getNic("vm1"), "10.0.0.13", refs));
        assert.equal(res.status, 400, JSON.stringify(refs));
        assert.equal(JSON.parse(res.body).error.code, "InvalidResourceReference");
      }
      const left = withRefs(await getNic("vm1"), "10.0.0.11", { loadBalancerBackendAddressPools: [], applicationSecurityGroups: [] });
      assert.equal((await poll(await arm("vm1", "PUT", nic("vm1"), left), "vm1")).status, "Succeeded");
      assert.ok(!dnatTo("10.0.0.11"), "left the pool");
      assert.equal(
        readTopologyFile(dir).vms[0].nic.secondaries.find((c) => c.address === "10.0.0.11")?.applicationSecurityGroups,
        undefined,
      );
    });

    it("throttles past callsPerMinute with 429 and Retry-After", async () => {
      await start({ arm: { callsPerMinute: 3 } });
      const t = await token("vm1");
      const call = () => httpRequest(platform.addresses().arm, "GET", `${vmResourceId("vm1")}?${API}`, { Authorization: `Bearer ${t}` });
      for (let i = 0; i < 3; i++) assert.equal((await call()).status, 200);
      const throttled = await call();
      assert.equal(throttled.status, 429);
      assert.equal(JSON.parse(throttled.body).error.code, "TooManyRequests");
      const wait = Number(throttled.headers["retry-after"]);
      assert.ok(wait >= 1 && wait <= 60, `Retry-After ${throttled.headers["retry-after"]}`);
    });

    it("answers 403 AuthorizationFailed when the VM's identity has no role, and injected faults", async () => {
      await start({ vms: { vm1: { role: false } } });
      const denied = await arm("vm1", "GET", nic("vm1"));
      assert.equal(denied.status, 403);
      assert.equal(JSON.parse(denied.body).error.code, "AuthorizationFailed");
      assert.equal((await arm("vm2", "GET", nic("vm2"))).status, 200);
      await knobs({ arm: { writeStatus: 503 } });
      const doc = await getNic("vm2");
      const failed = await arm("vm2", "PUT", nic("vm2"), withSecondary(doc, "f", "10.0.0.60"));
      assert.equal(failed.status, 503);
      await knobs({ arm: { operationsFail: true, provisioningDelayMs: 0 } });
      const op = await poll(await arm("vm2", "PUT", nic("vm2"), withSecondary(doc, "f", "10.0.0.60")), "vm2");
      assert.equal(op.status, "Failed");
      assert.equal(op.error?.code, "InternalServerError");
      assert.ok(!(await imdsAddresses("vm2")).includes("10.0.0.60"));
    });

    it("speaks HTTPS with a certificate for management.azure.com signed by the simulator's CA", async () => {
      const certDir = join(makeStateDir(defaultTopology()), "arm");
      const certs = await makeArmCertificates(certDir, { host: "management.azure.com", ip: "127.0.0.1" });
      await start({}, { cert: readFileSync(certs.cert, "utf8"), key: readFileSync(certs.key, "utf8") });
      const at = platform.addresses().arm!;
      const get = (ca?: string) =>
        new Promise<number>((resolve, reject) => {
          const req = request(
            { host: at.host, port: at.port, servername: "management.azure.com", path: `${vmResourceId("vm1")}?${API}`, ca, agent: false },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on("error", reject);
          req.end();
        });
      assert.equal(await get(readFileSync(certs.ca, "utf8")), 401);
      await assert.rejects(get(), /self.signed|unable to (get|verify)/i);
      removeStateDir(join(certDir, ".."));
    });

    it("serves a VM's second NIC: listed by the VM, its own subnet and MAC, and PUT through the same commit", async () => {
      await start({}, undefined, twoNicTopology());
      const vm = JSON.parse((await arm("vm1", "GET", vmResourceId("vm1"))).body);
      assert.deepEqual(vm.properties.networkProfile.networkInterfaces, [
        { id: nic("vm1"), properties: { primary: true } },
        { id: nicId("vm1", 1), properties: { primary: false } },
      ]);
      const second = JSON.parse((await arm("vm1", "GET", nicId("vm1", 1))).body) as NicDoc & {
        name: string;
        properties: { primary: boolean };
      };
      assert.equal(second.name, "vm1-nic1");
      assert.equal(second.properties.primary, false);
      assert.equal(second.properties.macAddress, "00-0D-3A-00-01-01");
      assert.deepEqual(
        second.properties.ipConfigurations.map((c) => [c.properties.privateIPAddress, c.properties.primary, c.properties.subnet.id]),
        ["10.0.1.4", "10.0.1.10", "10.0.1.11", "10.0.1.12", "10.0.1.13"].map((a, i) => [a, i === 0, subnetId("subnet1")]),
      );
      const withNew = (name: string, address: string, subnet: string) => ({
        ...second,
        properties: {
          ...second.properties,
          ipConfigurations: [
            ...second.properties.ipConfigurations,
            { name, properties: { privateIPAddress: address, privateIPAllocationMethod: "Static", subnet: { id: subnet } } },
          ],
        },
      });
      // The primary NIC's subnet is not this NIC's.
      const wrong = await arm("vm1", "PUT", nicId("vm1", 1), withNew("x", "10.0.1.40", subnetId()));
      assert.equal(JSON.parse(wrong.body).error.code, "InvalidResourceReference", wrong.body);
      const outside = await arm("vm1", "PUT", nicId("vm1", 1), withNew("x", "10.0.0.40", subnetId("subnet1")));
      assert.equal(JSON.parse(outside.body).error.code, "PrivateIPAddressNotInSubnet", outside.body);
      const taken = await arm("vm1", "PUT", nicId("vm1", 1), withNew("x", "10.0.1.20", subnetId("subnet1")));
      assert.equal(JSON.parse(taken.body).error.code, "PrivateIPAddressInUse", taken.body);
      const put = await arm("vm1", "PUT", nicId("vm1", 1), withNew("web", "10.0.1.40", subnetId("subnet1")));
      assert.equal(put.status, 200, put.body);
      // One operation per NIC: the primary NIC can change meanwhile.
      const first = await getNic("vm1");
      const other = await arm("vm1", "PUT", nic("vm1"), withSecondary(first, "azvnet-a", "10.0.0.40"));
      assert.equal(other.status, 200, other.body);
      assert.equal((await poll(put, "vm1")).status, "Succeeded");
      assert.equal((await poll(other, "vm1")).status, "Succeeded");
      const topo = readTopologyFile(dir);
      assert.deepEqual(topo.vms[0].extraNics[0].secondaries.at(-1), { address: "10.0.1.40", name: "web", allocation: "Static" });
      assert.ok(topo.vms[0].nic.secondaries.some((s) => s.address === "10.0.0.40"));
      const imds = JSON.parse((await imdsGet(platform, SOURCES.vm1)).body) as {
        interface: { ipv4: { ipAddress: { privateIpAddress: string }[] } }[];
      };
      assert.ok(imds.interface[1].ipv4.ipAddress.some((a) => a.privateIpAddress === "10.0.1.40"));
      assert.ok(!imds.interface[0].ipv4.ipAddress.some((a) => a.privateIpAddress === "10.0.1.40"));
      assert.equal(fullRuleset(topo).match(/-A AZSIM-VM-vm1-e1 -s 10\.0\.1\.40\/32 -j RETURN/)?.length, 1);
    });
  });
});
