/** Saved network state for tests of the kernel model and its repair: one network on bridge azvbaaaaaaaaaaa and its endpoints. */
import type { NetworkState } from "../../../driver/network/records";

export const NET = "a".repeat(64);
export const BR = "azvbaaaaaaaaaaa";

/** Endpoint n (a digit) holds 10.0.0.(9+n) on veths azvh/azvc + n repeated; `mac` as given (none: adopted without one). */
export function endpointRecord(n: number, mac?: string): NetworkState["endpoints"][string] {
  const id = String(n).repeat(64);
  const tail = String(n).repeat(11);
  return {
    id,
    networkId: NET,
    address: `10.0.0.${9 + n}`,
    hostVeth: `azvh${tail}`,
    peerVeth: `azvc${tail}`,
    ...(mac ? { mac } : {}),
    joined: true,
    createdAt: "2026-01-01T00:00:00.000Z",
  };
}

export function networkState(...endpoints: NetworkState["endpoints"][string][]): NetworkState {
  return {
    networks: {
      [NET]: {
        id: NET,
        bridge: BR,
        addressSpace: "AzureVNetLocal",
        subnet: "10.0.0.0/24",
        gateway: "10.0.0.1",
        primaryAddress: "10.0.0.4",
        nicMac: "00:0d:3a:00:00:01",
        mtu: 1400,
        options: { mode: "bridge", snat: true, allowImds: false },
        createdAt: "2026-01-01T00:00:00.000Z",
      },
    },
    endpoints: Object.fromEntries(endpoints.map((e) => [e.id, e])),
  };
}
