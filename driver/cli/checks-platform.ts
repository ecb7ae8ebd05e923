/**
 * Owns doctor's checks of what Azure provides: the metadata answer, the NIC it
 * describes, and the secondary ipconfigs containers get their addresses from.
 */
import { azAddIpConfigCommand, type NicRef, suggestNewIpConfig } from "../ipam/messages";
import { allIpConfigAddresses, findNic } from "../ipam/metadata";
import { summariseAddresses } from "../lib/address";
import { type Check, check, plural } from "./check";
import { type Facts, savedState } from "./facts";
import type { SourceAttempt } from "./metadata-probe";
import { nicUsage } from "./nic-usage";

const NIC_NAME_HINT = "the NIC's name: az vm nic list --resource-group <rg> --vm-name <vm> --query '[].id' -o tsv";

function curlFor(a: SourceAttempt): string {
  if (a.source === "imds") return `curl -sS --noproxy '*' -H Metadata:true '${a.target}'`;
  if (a.source === "wireserver") return `curl -sS --noproxy '*' '${a.target}'`;
  return `cat ${a.target}`;
}

const answered = (a: SourceAttempt) => `${a.source} answered with ${plural(a.nics?.length ?? 0, "NIC")} in ${a.ms} ms`;

export function metadataCheck(f: Facts): Check {
  const id = "metadata";
  const m = f.metadata;
  if (!m) return check(id, "SKIP", "metadata not asked");
  const [first, fallback] = m.attempts;
  if (!fallback) {
    if (first.ok) return check(id, "PASS", answered(first));
    return check(id, "FAIL", `${first.source} did not answer: ${first.error}`, {
      fix: [`make ${first.target} reachable from the VM and check what it returns: ${curlFor(first)}`],
    });
  }
  if (first.ok && fallback.ok) return check(id, "PASS", `${answered(first)}; the ${fallback.source} fallback answers too`);
  if (first.ok) {
    return check(id, "WARN", `${answered(first)}; the ${fallback.source} fallback did not: ${fallback.error}`, {
      fix: [`the plugin needs the fallback only when ${first.source} fails; check that nothing on the VM blocks it: ${curlFor(fallback)}`],
    });
  }
  if (fallback.ok) {
    return check(id, "WARN", `${first.source} did not answer (${first.error}); ${answered(fallback)}, and the plugin falls back to it`, {
      fix: [`check that ${first.source} is reachable without a proxy: ${curlFor(first)}`],
    });
  }
  return check(id, "FAIL", `neither ${first.source} nor ${fallback.source} answered: ${first.error}; ${fallback.error}`, {
    details: ["running containers keep working, but no new address can be handed out until one answers"],
    fix: m.attempts.map(
      (a) => `check that ${a.source} is reachable from the VM (no proxy, no host firewall rule in the way): ${curlFor(a)}`,
    ),
  });
}

/** Every NIC the metadata lists must be a link here, or the metadata is not this VM's. */
export function nicCheck(f: Facts): Check {
  const id = "nic";
  const nics = f.metadata?.nics;
  if (!nics) return check(id, "SKIP", "no metadata answer to compare the local links with");
  const links = f.kernel.links;
  if (!links.ok) return check(id, "SKIP", `cannot list the links: ${links.error}`);
  const found: string[] = [];
  const problems: string[] = [];
  const fix: string[] = [];
  for (const nic of nics) {
    // The synthetic NIC, not an SR-IOV function enslaved to it, carries the traffic.
    const link = links.value
      .filter((l) => l.mac === nic.mac)
      .sort((a, b) => Number(a.master !== undefined) - Number(b.master !== undefined))[0];
    if (!link) {
      problems.push(`NIC ${nic.mac} from the metadata has no link with that MAC on this VM`);
      continue;
    }
    if (!link.up) {
      problems.push(`NIC ${nic.mac} is ${link.name}, which is down`);
      fix.push(`ip link set ${link.name} up`);
      continue;
    }
    found.push(`${nic.mac} is ${link.name}`);
  }
  if (problems.length === 0) return check(id, "PASS", `${found.join("; ")} (up)`);
  if (problems.some((p) => p.includes("no link"))) {
    fix.push(
      "`ip -br link` lists this VM's links and MACs; if the NIC is not among them, the metadata is not this VM's: check --metadata-source, --imds-url, --wireserver-url or --metadata-file",
    );
  }
  return check(id, "FAIL", problems.join("; "), { fix });
}

/**
 * For the subnets networks use, and the one a new network would use: are
 * there secondary ipconfigs, and are any free? Each "none" comes with the az
 * command that adds one.
 */
export function ipconfigChecks(f: Facts): Check[] {
  const id = "ipconfigs";
  const nics = f.metadata?.nics;
  if (!nics) return [check(id, "SKIP", "no metadata answer: cannot tell which ipconfigs the NIC has")];
  const ipam = savedState(f)?.ipam;
  const taken = new Set([...allIpConfigAddresses(nics), ...Object.keys(ipam?.addresses ?? {})]);
  const relevant = nicUsage(ipam, nics).filter((u) => u.inUse || u.isDefault);
  if (relevant.length === 0) return [check(id, "FAIL", "the metadata lists no IPv4 subnet on any NIC")];
  return relevant.map((u) => {
    const where = `NIC ${u.nicMac} in ${u.subnet}`;
    const secondaries = u.secondaries ?? [];
    const free = u.free ?? [];
    const suggestion = suggestNewIpConfig(u.subnet, u.subnet, taken);
    const resourceGroup = findNic(nics, u.nicMac)?.resourceGroup;
    const nic: NicRef = { mac: u.nicMac, ...(resourceGroup && { resourceGroup }) };
    // Without a resource group from the metadata, the command keeps placeholders: say where to find them.
    const hint = resourceGroup ? [] : [NIC_NAME_HINT];
    const add = suggestion
      ? [`add one per container, e.g.: ${azAddIpConfigCommand(suggestion, nic)}`, ...hint]
      : [`every usable address of ${u.subnet} is already an ipconfig; use a larger subnet`];
    const flaggedHeld = u.held.filter((h) => h.flagged);
    const flagged = flaggedHeld.map(
      (h) => `${h.address} is held by ${h.name ? `container ${h.name}` : "a container"} but is no longer an ipconfig of the NIC`,
    );
    const readd = [...flaggedHeld.map((h) => azAddIpConfigCommand(h.address, nic)), "(or remove the containers that hold them)"];
    if (secondaries.length === 0) {
      return check(
        id,
        "FAIL",
        `${where}: no secondary IP configurations, so no container can get an address (the primary ${u.primaryAddress ?? "address"} stays with the VM)`,
        { fix: add },
      );
    }
    if (free.length === 0) {
      return check(id, "FAIL", `${where}: all ${plural(secondaries.length, "secondary ipconfig")} are in use`, {
        details: flagged,
        fix: flagged.length ? [...add, ...readd] : add,
      });
    }
    const finding = `${where}: ${free.length} of ${plural(secondaries.length, "secondary ipconfig")} free (${summariseAddresses(free)})`;
    if (flagged.length)
      return check(id, "WARN", `${finding}; ${plural(flagged.length, "address", "addresses")} flagged`, { details: flagged, fix: readd });
    return check(id, "PASS", finding);
  });
}
