/**
 * Port publishing (`docker run -p`, compose `ports:`): reads the bindings
 * Docker sends with ProgramExternalConnectivity, refuses what cannot be
 * published as asked, and finds the endpoint that already holds a port. The
 * rules themselves are the firewall plan's (dataplane/firewall-plan.ts).
 */
import * as v from "valibot";
import { PluginError } from "../errors";
import { parseIpv4 } from "../lib/address";
import { object } from "../lib/valid";
import { samePublishedPort } from "../dataplane/firewall-plan";

/** The option Docker puts the `-p` bindings in (a list of Go `types.PortBinding`). */
export const PORTMAP_OPTION = "com.docker.network.portmap";

export const PublishedPortSchema = v.object({
  proto: v.picklist(["tcp", "udp"]),
  /** One of the VM's IPv4 addresses; absent for all of them. */
  hostIp: v.optional(v.string()),
  hostPort: v.pipe(v.number(), v.integer()),
  containerPort: v.pipe(v.number(), v.integer()),
});
export type PublishedPort = v.InferOutput<typeof PublishedPortSchema>;

/** IANA protocol numbers, as Docker sends them. */
const PROTOCOLS: Record<number, PublishedPort["proto"] | undefined> = { 6: "tcp", 17: "udp" };

const port = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535));
const binding = object({
  Proto: v.pipe(v.number(), v.integer()),
  IP: v.nullish(v.string()),
  Port: port,
  HostIP: v.nullish(v.string()),
  HostPort: v.nullish(port),
  HostPortEnd: v.nullish(port),
});

/** `8080/tcp`, or with an address `10.0.0.4:8080/tcp`. */
export function describePort(p: Pick<PublishedPort, "proto" | "hostIp" | "hostPort">): string {
  return `${p.hostIp === undefined ? "" : `${p.hostIp}:`}${p.hostPort}/${p.proto}`;
}

/**
 * The bindings of one ProgramExternalConnectivity, each checked. Docker's
 * IPv6 wildcard (which it adds beside 0.0.0.0) is skipped: containers have
 * IPv4 addresses only.
 */
export function parsePortBindings(options: Record<string, unknown>): PublishedPort[] {
  const raw = options[PORTMAP_OPTION];
  if (raw === undefined || raw === null) return [];
  const parsed = v.safeParse(v.array(binding), raw);
  if (!parsed.success) throw new PluginError(`Docker's port bindings (${PORTMAP_OPTION}) are not in the expected form`);
  const out: PublishedPort[] = [];
  for (const b of parsed.output) {
    const proto = PROTOCOLS[b.Proto];
    const asked = `${b.HostIP ? `${b.HostIP}:` : ""}${b.HostPort ?? 0}:${b.Port}`;
    if (!proto) throw new PluginError(`cannot publish ${asked}: azure-vnet publishes tcp and udp ports only`);
    const hostIp = hostAddress(b.HostIP ?? "", `${asked}/${proto}`);
    if (hostIp === null) continue;
    const hostPort = b.HostPort ?? 0;
    const end = b.HostPortEnd ?? 0;
    if (hostPort === 0) {
      throw new PluginError(
        `cannot publish container port ${b.Port}/${proto} on a port Docker would pick (-p ${b.Port} or -P): azure-vnet cannot tell Docker the port, so give it one, e.g. -p 8080:${b.Port}`,
      );
    }
    if (end !== 0 && end !== hostPort) {
      throw new PluginError(
        `cannot publish ${b.Port}/${proto} on the host port range ${hostPort}-${end}: azure-vnet cannot tell Docker which port it took, so give one port, e.g. -p ${hostPort}:${b.Port}`,
      );
    }
    if (b.Port === 0) throw new PluginError(`cannot publish ${asked}/${proto}: the container port is missing`);
    const p: PublishedPort = { proto, hostPort, containerPort: b.Port, ...(hostIp ? { hostIp } : {}) };
    const twin = out.find((q) => samePublishedPort(p, q));
    if (twin) {
      if (twin.containerPort === p.containerPort && twin.hostIp === p.hostIp) continue;
      throw new PluginError(`cannot publish ${describePort(p)} twice in one container`);
    }
    out.push(p);
  }
  return out;
}

/** The host address of a binding: "" for all of the VM's, null for one to skip (IPv6 wildcard). */
function hostAddress(text: string, asked: string): string | null {
  if (text === "" || text === "0.0.0.0") return "";
  if (text === "::") return null;
  const v4 = parseIpv4(text);
  if (v4 === undefined) {
    if (text.includes(":")) throw new PluginError(`cannot publish ${asked}: azure-vnet publishes on the VM's IPv4 addresses only`);
    throw new PluginError(`cannot publish ${asked}: ${JSON.stringify(text)} is not an IPv4 address`);
  }
  if (text.startsWith("127.")) {
    throw new PluginError(
      `cannot publish ${asked} on a loopback address: azure-vnet publishes on the VM's own addresses (leave the address out, or give one of the VM's)`,
    );
  }
  return text;
}

/** An endpoint that holds ports already, as the conflict check sees it. */
export interface PortHolder {
  id: string;
  address: string;
  published?: PublishedPort[];
}

/** The other endpoints that publish one of `wanted`. */
export function portHolders(wanted: PublishedPort[], endpointId: string, holders: PortHolder[]): PortHolder[] {
  return holders.filter((h) => h.id !== endpointId && wanted.some((p) => h.published?.some((q) => samePublishedPort(p, q))));
}

/** Throws naming the port and its holder if another endpoint already publishes one of `wanted`. */
export function checkPortsFree(wanted: PublishedPort[], endpointId: string, holders: PortHolder[], short: (id: string) => string): void {
  for (const h of portHolders(wanted, endpointId, holders)) {
    for (const p of wanted) {
      const taken = h.published?.find((q) => samePublishedPort(p, q));
      if (taken) {
        throw new PluginError(
          `port ${describePort(p)} is already published by azure-vnet endpoint ${short(h.id)} (container address ${h.address}, as ${describePort(taken)}); remove that container or publish another host port`,
          "conflict",
        );
      }
    }
  }
}
