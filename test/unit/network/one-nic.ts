/** The VM of the network unit tests as the metadata lists it: one primary NIC, eth0, in 10.0.0.0/24. */
import type { NicInfo } from "../../../driver/ipam/metadata/types";

export const ONE_NIC: NicInfo[] = [
  {
    mac: "00:0d:3a:00:00:01",
    isPrimary: true,
    subnets: [{ cidr: "10.0.0.0/24", ipConfigs: [{ address: "10.0.0.4", isPrimary: true, publicIp: "" }] }],
  },
];

/** The PoolDirectory members that read the NICs, for a VM with only eth0 (a pool is never moved). */
export const oneNicDirectory = {
  vmNics: async (): Promise<NicInfo[]> => structuredClone(ONE_NIC),
  bindPoolsToNic: async () => undefined,
};
