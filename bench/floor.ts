/**
 * The kernel floor of an endpoint lifecycle: the netlink, bridge firewall
 * (port guard) and conntrack work the plugin does per endpoint, done by the
 * plugin's own dataplane module straight from a small process, with no
 * protocol, IPAM, state or locking. The plugin's iptables rules depend on
 * networks only, so none are made here. Run inside a VM (network namespace);
 * prints the samples as JSON on stdout.
 *
 * Usage: node floor.js COUNT CONCURRENCY
 */
import { LinuxDataplane } from "../driver/dataplane";
import { FloorOutput, LifecycleSample, StepTimer, runLifecycles } from "./lifecycle";
import { nowMs } from "./measure";
import { addressAfter } from "./topology";

const BRIDGE = "azbfloor";
/** RFC 2544's benchmarking range: never a VNet address, so no route of the plugin's is touched. */
const FIRST_ADDRESS = "198.18.0.1";
const MTU = 1500;

async function once(dp: LinuxDataplane, i: number): Promise<LifecycleSample> {
  const t = new StepTimer();
  const hostName = `azbfh${i}`;
  const ip = addressAfter(FIRST_ADDRESS, i);
  // Step names say which kernel operation each is, for the per-step table;
  // the order is the plugin's (CreateEndpoint, then DeleteEndpoint).
  const link = await t.step("link add", () => dp.createEndpointLink({ bridge: BRIDGE, hostName, peerName: `azbfc${i}`, mtu: MTU }));
  const mac = link.peer?.mac;
  if (!mac) throw new Error(`the peer of ${hostName} has no MAC address`);
  await t.step("port guard add", () => dp.addPortGuard({ port: hostName, address: ip, mac }));
  await t.step("route add", () => dp.addContainerRoute(ip, BRIDGE));
  await t.step("route del", () => dp.removeContainerRoute(ip, BRIDGE));
  await t.step("port guard del", () => dp.removePortGuard(hostName));
  await t.step("link del", () => dp.removeEndpointLink(hostName));
  await t.step("conntrack flush", () => dp.forgetFlows(ip));
  return t.done();
}

async function main(): Promise<void> {
  const [count, concurrency] = process.argv.slice(2).map(Number);
  if (!(count > 0 && concurrency > 0)) throw new Error("usage: floor.js COUNT CONCURRENCY");
  const dp = new LinuxDataplane();
  try {
    await dp.ensureBridge(BRIDGE, MTU);
    const t0 = nowMs();
    const samples = await runLifecycles(count, concurrency, (i) => once(dp, i));
    const out: FloorOutput = { samples, wallMs: nowMs() - t0 };
    process.stdout.write(JSON.stringify(out));
  } finally {
    await dp.removeBridge(BRIDGE).catch(() => undefined);
    await dp.close();
  }
}

main().catch((err) => {
  process.stderr.write(`floor: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
