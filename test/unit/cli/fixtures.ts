/**
 * A healthy VM as `status` and `doctor` see it: one network on the NIC's
 * subnet, one container endpoint, the metadata listing four secondary
 * ipconfigs, and the kernel holding exactly what the plugin built. Each test
 * breaks one thing.
 */
import type { Checkpoint } from "../../../driver/checkpoint";
import { planFirewall, type FirewallState, type LinkInfo } from "../../../driver/dataplane";
import type { NicInfo } from "../../../driver/ipam";
import { firewallInputFor } from "../../../driver/network/manager";
import type { CheckpointView } from "../../../driver/cli/checkpoint-view";
import type { Facts } from "../../../driver/cli/facts";
import type { MetadataProbe } from "../../../driver/cli/metadata-probe";
import { type DockerReconcileReport, emptyReconcileReport } from "../../../driver/reconcile/docker";

export const NET_ID = "1111111111112222222222223333333333334444444444445555555555556666";
export const EP_ID = "aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff";
export const MAC = "00:0d:3a:00:00:01";
export const BRIDGE = "azvb11111111111";
export const HOST_VETH = "azvhaaaaaaaaaaa";
export const PEER_VETH = "azvcaaaaaaaaaaa";
export const POOL = "AzureVNetLocal/10.0.0.0/24";

export function checkpoint(): Checkpoint {
  return {
    ipam: {
      version: 1,
      pools: {
        [POOL]: {
          addressSpace: "AzureVNetLocal",
          subnet: "10.0.0.0/24",
          nicMac: MAC,
          primaryAddress: "10.0.0.4",
          refCount: 1,
          options: {},
          auxAddresses: [],
        },
      },
      addresses: { "10.0.0.10": { poolId: POOL, kind: "endpoint", name: "web" } },
    },
    network: {
      networks: {
        [NET_ID]: {
          id: NET_ID,
          bridge: BRIDGE,
          addressSpace: "AzureVNetLocal",
          subnet: "10.0.0.0/24",
          gateway: "10.0.0.1",
          primaryAddress: "10.0.0.4",
          nicMac: MAC,
          mtu: 1500,
          options: { mode: "bridge", snat: true, allowImds: false },
          createdAt: "2026-01-01T00:00:00.000Z",
        },
      },
      endpoints: {
        [EP_ID]: {
          id: EP_ID,
          networkId: NET_ID,
          address: "10.0.0.10",
          hostVeth: HOST_VETH,
          peerVeth: PEER_VETH,
          mac: "02:42:0a:00:00:0a",
          joined: true,
          createdAt: "2026-01-01T00:00:01.000Z",
        },
      },
    },
  };
}

export function nics(secondaries = ["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13"]): NicInfo[] {
  return [
    {
      mac: MAC,
      isPrimary: true,
      subnets: [
        {
          cidr: "10.0.0.0/24",
          ipConfigs: [
            { address: "10.0.0.4", isPrimary: true, publicIp: "" },
            ...secondaries.map((address) => ({ address, isPrimary: false, publicIp: "" })),
          ],
        },
      ],
    },
  ];
}

export function metadata(list: NicInfo[] = nics()): MetadataProbe {
  return {
    configured: "auto",
    attempts: [
      { source: "imds", target: "http://169.254.169.254/metadata/instance/network?api-version=2021-02-01", ok: true, nics: list, ms: 5 },
      {
        source: "wireserver",
        target: "http://168.63.129.16/machine/plugins?comp=nmagent&type=getinterfaceinfov1",
        ok: true,
        nics: list,
        ms: 7,
      },
    ],
    answeredBy: "imds",
    nics: list,
  };
}

export function links(): LinkInfo[] {
  return [
    { name: "lo", index: 1, mtu: 65536, up: true },
    { name: "eth0", index: 2, mac: MAC, mtu: 1500, up: true },
    { name: BRIDGE, index: 3, mac: "02:11:22:33:44:55", mtu: 1500, kind: "bridge", up: true },
    { name: HOST_VETH, index: 4, mac: "02:aa:bb:cc:dd:ee", mtu: 1500, kind: "veth", master: 3, linkIndex: 2, linkNetnsid: 0, up: true },
  ];
}

export function firewall(cp: Checkpoint = checkpoint()): FirewallState {
  const plan = planFirewall(firewallInputFor(cp.network));
  return {
    mode: "nft",
    forwardChain: true,
    postroutingChain: true,
    filterRules: [...plan.filterRules],
    natRules: [...plan.natRules],
    dnatChain: true,
    dnatRules: [...plan.dnatRules],
    forwardJumps: 1,
    postroutingJumps: 1,
    mangleChains: true,
    mangleRules: [...plan.mangleRules],
    rawChain: true,
    rawRules: [...plan.rawRules],
    jumpsNotFirst: [],
  };
}

/** `null` for a state directory with no usable checkpoint. */
export function view(cp: Checkpoint | null = checkpoint(), extra: Partial<CheckpointView> = {}): CheckpointView {
  return {
    path: "/var/lib/azure-vnet/state.json",
    data: cp ?? undefined,
    source: cp ? "primary" : "none",
    problems: [],
    writtenAt: "2026-01-01T00:00:02.000Z",
    rebooted: false,
    quarantined: [],
    leftoverTemps: [],
    ...extra,
  };
}

export function healthy(): Facts {
  return {
    stateDir: "/var/lib/azure-vnet",
    checkpoint: { ok: true, value: view() },
    metadata: metadata(),
    kernel: {
      links: { ok: true, value: links() },
      routes: { [BRIDGE]: { ok: true, value: ["10.0.0.10"] } },
      proxyArp: { [BRIDGE]: { ok: true, value: true } },
      routedPorts: {},
      ipForward: { ok: true, value: true },
      firewall: { ok: true, value: firewall() },
      portGuards: { ok: true, value: [HOST_VETH] },
      policyRouting: { ok: true, value: { rules: [], routes: [] } },
      backends: {
        ok: true,
        value: {
          defaultMode: "nft",
          rulesets: [
            {
              mode: "nft",
              available: true,
              dockerChains: ["DOCKER", "DOCKER-USER"],
              pluginChains: ["AZURE-VNET-FORWARD", "AZURE-VNET-POSTROUTING"],
            },
            { mode: "legacy", available: true, dockerChains: [], pluginChains: [] },
          ],
        },
      },
    },
    socket: {
      path: "/run/docker/plugins/azure-vnet.sock",
      exists: true,
      isSocket: true,
      mode: 0o600,
      answering: true,
      implements: ["NetworkDriver", "IpamDriver"],
    },
    // A legacy install: Docker lists no managed azure-vnet plugin.
    location: { socket: "/run/docker/plugins/azure-vnet.sock", how: "legacy", candidates: [], dockerSocket: "/run/docker.sock" },
    lastReconcile: reconcileReport(READ_AT - 20_000),
    reconcileIntervalSeconds: 60,
    readAt: READ_AT,
  };
}

/** When the facts of healthy() were read. */
export const READ_AT = Date.parse("2026-03-01T12:00:00.000Z");

export function reconcileReport(at: number, failure?: { error: string; unreachable?: string }): DockerReconcileReport {
  return { ...emptyReconcileReport(new Date(at)), ok: !failure, ...failure };
}

/** A swarm-scoped network's id (swarm's managers make it) and the bridge the plugin names for it. */
export const SWARM_NET_ID = "yt93zcd6htzvzcmmstigpqsym";
export const SWARM_BRIDGE = "azvbsyt93zcd6ht";

/** The same VM with its network a swarm network: every record, link and rule under the swarm id's names. */
export function onSwarmNetwork(f: Facts): Facts {
  const text = JSON.stringify(f).replaceAll(NET_ID, SWARM_NET_ID).replaceAll(BRIDGE, SWARM_BRIDGE);
  const moved = JSON.parse(text) as Facts;
  const data = moved.checkpoint?.ok ? moved.checkpoint.value.data : undefined;
  if (!data) throw new Error("onSwarmNetwork needs facts with a checkpoint");
  moved.kernel.firewall = { ok: true, value: firewall(data) };
  return moved;
}
