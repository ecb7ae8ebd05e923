/**
 * The XML the wireserver / NMAgent serves (its interface list), built with
 * fast-xml-parser's builder so attribute values are escaped properly.
 */
import { XMLBuilder } from "fast-xml-parser";
import { nicIp6Configs, nicIpConfigs, nicsOf, type Topology } from "../topology";
import { azureMac } from "./mac";

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  suppressEmptyNode: true,
  // Without this the builder prints IsPrimary="true" as a bare attribute, which is not XML.
  suppressBooleanAttributes: false,
  format: true,
});

const declaration = { "?xml": { "@_version": "1.0", "@_encoding": "utf-8" } };

/** The NMAgent wireserver protocol version the health check advertises. */
export const WIRESERVER_VERSION = "2012-11-30";

export function wireserverXml(topology: Topology, vmName: string): string {
  const vm = topology.vms.find((v) => v.name === vmName);
  if (!vm) throw new Error(`no VM named ${vmName} in the topology`);
  const addressList = (configs: { address: string }[]) =>
    configs.map((c, i) => ({ "@_Address": c.address, "@_IsPrimary": String(i === 0) }));
  // Every NIC, the primary one first and the only one with IsPrimary="true".
  const interfaces = nicsOf(vm, topology).map((nic) => {
    // A dual-stack subnet is a second IPSubnet of the interface, with the IPv6 ipconfigs.
    const addresses6 = addressList(nicIp6Configs(nic));
    const subnet6 =
      topology.vnet.subnet6 !== undefined && addresses6.length ? [{ "@_Prefix": topology.vnet.subnet6, IPAddress: addresses6 }] : [];
    return {
      "@_MacAddress": azureMac(nic.mac),
      "@_IsPrimary": String(nic.index === 0),
      IPSubnet: [{ "@_Prefix": nic.subnet, IPAddress: addressList(nicIpConfigs(nic)) }, ...subnet6],
    };
  });
  return builder.build({ ...declaration, Interfaces: { Interface: interfaces } });
}

/** Answer to GET /?comp=versions, which agents use as a liveness check. */
export function versionsXml(): string {
  return builder.build({
    ...declaration,
    Versions: { Preferred: { Version: WIRESERVER_VERSION }, Supported: { Version: [WIRESERVER_VERSION] } },
  });
}
