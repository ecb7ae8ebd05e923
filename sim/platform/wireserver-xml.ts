/**
 * The XML the wireserver / NMAgent serves (its interface list), built with
 * fast-xml-parser's builder so attribute values are escaped properly.
 */
import { XMLBuilder } from "fast-xml-parser";
import { ipConfigsOf, ipv6ConfigsOf, type Topology } from "../topology";
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
  const addresses = ipConfigsOf(vm).map((c, i) => ({ "@_Address": c.address, "@_IsPrimary": String(i === 0) }));
  // A dual-stack subnet is a second IPSubnet of the interface, with the IPv6 ipconfigs.
  const addresses6 = ipv6ConfigsOf(vm).map((c, i) => ({ "@_Address": c.address, "@_IsPrimary": String(i === 0) }));
  const subnet6 =
    topology.vnet.subnet6 !== undefined && addresses6.length ? [{ "@_Prefix": topology.vnet.subnet6, IPAddress: addresses6 }] : [];
  return builder.build({
    ...declaration,
    Interfaces: {
      Interface: [
        {
          "@_MacAddress": azureMac(vm.nic.mac),
          "@_IsPrimary": "true",
          IPSubnet: [{ "@_Prefix": topology.vnet.subnet, IPAddress: addresses }, ...subnet6],
        },
      ],
    },
  });
}

/** Answer to GET /?comp=versions, which agents use as a liveness check. */
export function versionsXml(): string {
  return builder.build({
    ...declaration,
    Versions: { Preferred: { Version: WIRESERVER_VERSION }, Supported: { Version: [WIRESERVER_VERSION] } },
  });
}
