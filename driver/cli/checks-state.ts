/**
 * Checks of the plugin's own state against the kernel: the checkpoint
 * itself, each bridge network's bridge, each endpoint's veth and route (and a
 * transparent endpoint's routed port), leftovers, and the socket Docker talks to.
 */
import { bridgeOf, type DesiredKernel, desiredKernel, diffKernel, isGuarded, routedPortProblems } from "../network/kernel-model";
import { shortId as short } from "../lib/text";
import { type Check, check, plural, restartPlugin } from "./check";
import { type Facts, savedState } from "./facts";
import type { PluginLocation } from "./locate";
import { valueOf } from "./probed";

export function checkpointCheck(f: Facts): Check {
  const id = "checkpoint";
  if (!f.checkpoint.ok) {
    return check(id, "FAIL", `cannot read the plugin's state: ${f.checkpoint.error}`, {
      fix: [`run doctor as root; check the permissions of ${f.stateDir}`],
    });
  }
  const cp = f.checkpoint.value;
  const details = [...cp.problems];
  if (cp.quarantined.length) details.push(`damaged copies set aside at an earlier start: ${cp.quarantined.join(", ")}`);
  if (cp.leftoverTemps.length) details.push(`temp files of interrupted saves: ${cp.leftoverTemps.join(", ")}`);
  if (cp.source === "none") {
    if (cp.problems.length) {
      return check(
        id,
        "FAIL",
        `no usable state in ${f.stateDir}: the plugin will start with none and cannot prove which addresses are free`,
        {
          details,
          fix: [
            `look at the damaged files in ${f.stateDir}; then remove the azure-vnet networks (docker network rm) and create them again, so the plugin learns them anew`,
          ],
        },
      );
    }
    return check(id, "PASS", `no state yet in ${f.stateDir} (no network has been created)`);
  }
  const data = cp.data as NonNullable<typeof cp.data>;
  const counts = `${plural(Object.keys(data.network.networks).length, "network")}, ${plural(Object.keys(data.network.endpoints).length, "endpoint")}`;
  if (cp.source !== "primary") {
    return check(
      id,
      "WARN",
      `${cp.path} is unusable; the plugin will recover from ${cp.source} (${counts}), losing changes saved after it`,
      {
        details,
        fix: [`${restartPlugin(f.location)}; then compare \`azure-vnet-plugin status\` with \`docker network ls\` and \`docker ps\``],
      },
    );
  }
  if (data.trusted === false) {
    return check(
      id,
      "FAIL",
      `the plugin found its state damaged and hands out no new address until Docker confirms which are in use (${counts} known so far)`,
      {
        details,
        fix: [
          "make sure the plugin can reach Docker's API (/var/run/docker.sock, or DOCKER_HOST; for the managed plugin the docker-socket mount); it confirms within seconds once it can",
          "see the plugin's log and last-reconcile.json in the state directory for what failed",
        ],
      },
    );
  }
  if (cp.rebooted) {
    return check(id, "WARN", `${cp.path} (${counts}) was written before the last reboot: the plugin has not started since`, {
      details,
      fix: ["start the plugin; it rebuilds the bridges, routes and rules of its networks at start"],
    });
  }
  if (cp.quarantined.length) {
    return check(id, "WARN", `${cp.path} is fine (${counts}), but the plugin once recovered from a damaged copy`, {
      details,
      fix: [
        `check that no container lost its address, then delete the copies: rm ${cp.quarantined.map((q) => `${f.stateDir}/${q}`).join(" ")}`,
      ],
    });
  }
  return check(id, "PASS", `${cp.path}: ${counts}${cp.writtenAt ? `, written ${cp.writtenAt}` : ""}`, { details });
}

export function bridgesCheck(f: Facts): Check {
  const id = "bridges";
  const data = savedState(f);
  const all = Object.values(data?.network.networks ?? {});
  if (all.length === 0) return check(id, "PASS", "no networks, so no bridges needed");
  // A transparent network has no bridge: its routed ports are the routed-ports check's.
  const networks = all.filter((n) => bridgeOf(n) !== undefined);
  const routedOnly = all.length - networks.length;
  const others = routedOnly ? `; ${plural(routedOnly, "transparent network")} need${routedOnly === 1 ? "s" : ""} none` : "";
  if (networks.length === 0) return check(id, "PASS", `no bridges needed${others}`);
  const links = f.kernel.links;
  if (!links.ok) return check(id, "SKIP", `cannot list the links: ${links.error}`);
  const byName = new Map(links.value.map((l) => [l.name, l]));
  const problems: string[] = [];
  const fix: string[] = [];
  for (const n of networks) {
    const link = byName.get(n.bridge);
    const net = `network ${short(n.id)}`;
    if (!link) {
      problems.push(`bridge ${n.bridge} of ${net} does not exist`);
      if (!fix.includes(restartPlugin(f.location))) fix.push(restartPlugin(f.location));
      continue;
    }
    if (link.kind !== "bridge") {
      problems.push(`${n.bridge} of ${net} is a ${link.kind ?? "device"}, not a bridge`);
      fix.push(`ip link del ${n.bridge}`, restartPlugin(f.location));
      continue;
    }
    if (!link.up) {
      problems.push(`bridge ${n.bridge} of ${net} is down`);
      fix.push(`ip link set ${n.bridge} up`);
    }
    const arp = f.kernel.proxyArp[n.bridge];
    if (arp?.ok && arp.value === false) {
      problems.push(`bridge ${n.bridge} of ${net} has proxy_arp off, so containers get no answer for their gateway`);
      fix.push(`sysctl -w net.ipv4.conf.${n.bridge}.proxy_arp=1`);
    }
  }
  if (problems.length) return check(id, "FAIL", problems.join("; "), { fix });
  return check(id, "PASS", `${plural(networks.length, "bridge")} up with proxy ARP: ${networks.map((n) => n.bridge).join(", ")}${others}`);
}

/** Endpoints whose veth is there must be routed; routes no endpoint explains are leftovers. */
export function routesCheck(f: Facts): Check {
  const id = "routes";
  const model = kernelModel(f);
  if (typeof model === "string") return check(id, "SKIP", model);
  const unreadable: string[] = [];
  const routes = new Map<string, string[]>();
  for (const dev of model.desired.routes.keys()) {
    const read = f.kernel.routes[dev];
    if (read?.ok) routes.set(dev, read.value);
    else unreadable.push(`${dev} (${read?.error ?? "not read"})`);
  }
  const diff = diffKernel(model.desired, { links: model.links, routes });
  const routed = model.desired.live.filter((e) => routes.has(e.routeDev as string)).length - diff.missingRoutes.length;
  const details = [
    ...diff.missingRoutes.map((r) => `missing: ${r.address}/32 dev ${r.dev} (endpoint ${short(r.endpointId)})`),
    ...diff.leftoverRoutes.map((r) => `leftover: ${r.address}/32 dev ${r.dev}`),
  ];
  const fix = [
    ...diff.missingRoutes.map((r) => `ip route replace ${r.address}/32 dev ${r.dev} scope link`),
    ...diff.leftoverRoutes.map((r) => `ip route del ${r.address}/32 dev ${r.dev}`),
  ];
  const missing = diff.missingRoutes.length;
  if (missing) {
    return check(
      id,
      "FAIL",
      `${plural(missing, "container route")} missing: inbound packets for ${missing === 1 ? "that address" : "those addresses"} do not reach the container`,
      { details, fix },
    );
  }
  if (diff.leftoverRoutes.length || unreadable.length) {
    const notes = [
      diff.leftoverRoutes.length && `${plural(diff.leftoverRoutes.length, "route")} that no endpoint explains`,
      unreadable.length && `cannot read the routes of ${unreadable.join(", ")}`,
    ];
    return check(id, "WARN", notes.filter(Boolean).join("; "), { details, fix });
  }
  return check(id, "PASS", `${plural(routed, "container route")} in place`);
}

/** The kernel model of the saved records and the links present, or why it cannot be had. */
function kernelModel(f: Facts): { desired: DesiredKernel; links: Set<string>; data: NonNullable<ReturnType<typeof savedState>> } | string {
  const data = savedState(f);
  const links = valueOf(f.kernel.links);
  if (!data) return "the checkpoint could not be read";
  if (!links) return "cannot list the links";
  const names = new Set(links.map((l) => l.name));
  return { desired: desiredKernel(data.network, names), links: names, data };
}

/**
 * Endpoints whose host veth is gone hold an address for a container that no
 * longer has a network namespace; links named like the plugin's with no
 * record are leftovers of a crash.
 */
export function staleStateCheck(f: Facts): Check {
  const id = "stale-state";
  const model = kernelModel(f);
  if (typeof model === "string") return check(id, "SKIP", model);
  const details: string[] = [];
  const fix: string[] = [];
  const gone = model.desired.withoutLink;
  for (const e of gone) {
    const holder = model.data.ipam.addresses[e.address]?.name;
    details.push(
      `endpoint ${short(e.endpointId)} (${e.address}${holder ? `, container ${holder}` : ""}) on network ${short(e.networkId)}: host veth ${e.hostVeth} is gone`,
    );
  }
  if (gone.length) {
    fix.push(
      "Docker deletes an endpoint when its container is removed or restarted; if `docker network inspect <network>` still lists the container, run: docker network disconnect -f <network> <container>",
    );
  }
  const orphans = diffKernel(model.desired, { links: model.links }).orphanLinks;
  for (const name of orphans) {
    details.push(`link ${name} looks like the plugin's but no record explains it`);
    fix.push(`ip link del ${name}`);
  }
  if (!details.length) return check(id, "PASS", "every endpoint has its veth; no leftover links");
  const notes = [
    gone.length && `${plural(gone.length, "endpoint")} without a veth hold ${gone.length === 1 ? "an address" : "addresses"}`,
    orphans.length && `${plural(orphans.length, "leftover link")}`,
  ];
  return check(id, "WARN", notes.filter(Boolean).join("; "), { details, fix });
}

/** Every live endpoint's bridge port only lets its own MAC and address out (anti-spoofing). */
export function portGuardsCheck(f: Facts): Check {
  const id = "port-guards";
  const model = kernelModel(f);
  if (typeof model === "string") return check(id, "SKIP", model);
  const guards = f.kernel.portGuards;
  if (!guards.ok)
    return check(id, "WARN", `cannot read the bridge port guards: ${guards.error}`, {
      fix: ["run doctor as root; check that nft (package nftables) is installed"],
    });
  const diff = diffKernel(model.desired, { links: model.links, guards: guards.value });
  const unguarded = diff.missingGuards;
  if (unguarded.length) {
    const who = unguarded.length === 1 ? "that container sends" : "those containers send";
    return check(
      id,
      "FAIL",
      `${plural(unguarded.length, "container port")} without its anti-spoofing guard: ${who} nothing (ports fail closed) until the plugin's next reconciliation restores it`,
      {
        details: unguarded.map((e) => `missing: guard of ${e.hostVeth} (endpoint ${short(e.endpointId)}, ${e.address})`),
        fix: [restartPlugin(f.location)],
      },
    );
  }
  if (diff.orphanGuards.length) {
    return check(id, "WARN", `${plural(diff.orphanGuards.length, "guard")} for ports no endpoint explains`, {
      details: diff.orphanGuards.map((p) => `leftover: AZV-${p}`),
      fix: [restartPlugin(f.location)],
    });
  }
  const routedPorts = model.desired.live.filter((e) => !isGuarded(e)).length;
  const others = routedPorts
    ? `; ${plural(routedPorts, "routed port")} of transparent networks need${routedPorts === 1 ? "s" : ""} none`
    : "";
  return check(id, "PASS", `${plural(model.desired.live.length - routedPorts, "container port")} guarded${others}`);
}

/**
 * Every live transparent endpoint's host veth is a routed port as the plugin
 * made it: its network's link group (what the firewall knows it by), proxy
 * ARP, strict rp_filter, IPv6 off.
 */
export function routedPortsCheck(f: Facts): Check {
  const id = "routed-ports";
  const model = kernelModel(f);
  if (typeof model === "string") return check(id, "SKIP", model);
  const ports = model.desired.live.filter((e) => e.mode === "transparent");
  if (ports.length === 0) return check(id, "PASS", "no transparent endpoints, so no routed ports");
  const details: string[] = [];
  const fix: string[] = [];
  const unreadable: string[] = [];
  let wrong = 0;
  for (const ep of ports) {
    const read = f.kernel.routedPorts[ep.hostVeth];
    if (!read?.ok) {
      unreadable.push(`${ep.hostVeth} (${read?.error ?? "not read"})`);
      continue;
    }
    const problems = routedPortProblems(ep, read.value);
    if (problems.length) wrong++;
    for (const p of problems) {
      details.push(`${p.problem} (endpoint ${short(ep.endpointId)}, ${ep.address})`);
      fix.push(p.fix);
    }
  }
  if (wrong) {
    return check(id, "FAIL", `${plural(wrong, "routed port")} not as the plugin set ${wrong === 1 ? "it" : "them"} up`, {
      details,
      fix: [...fix, `or ${restartPlugin(f.location)}`],
    });
  }
  if (unreadable.length) return check(id, "WARN", `cannot read ${unreadable.join(", ")}`, { fix: ["run doctor as root"] });
  return check(id, "PASS", `${plural(ports.length, "routed port")} with their network's group, proxy ARP, strict rp_filter and no IPv6`);
}

/** How to start the plugin whose socket is missing: the managed one found by its name, else the legacy service. */
function startPlugin(l: PluginLocation | undefined): string {
  if (l?.plugin) return `docker plugin enable ${l.plugin.name}`;
  if (l?.how === "given")
    return "check --socket: a managed plugin's socket is /run/docker/plugins/<plugin id>/azvnet.sock (docker plugin ls --no-trunc shows the id)";
  if (l && !l.dockerError) return "start the legacy install (systemctl start azure-vnet), or install the managed plugin (docs/install.md)";
  return "start the plugin (legacy install: systemctl start azure-vnet; managed plugin: docker plugin enable <name>, the name docker plugin ls shows)";
}

export function socketCheck(f: Facts): Check {
  const id = "socket";
  const s = f.socket;
  const start = startPlugin(f.location);
  if (!s.exists)
    return check(id, "FAIL", `${s.path} does not exist${s.error ? ` (${s.error})` : ""}: the plugin is not running`, { fix: [start] });
  if (!s.isSocket) return check(id, "FAIL", `${s.path} exists but is not a socket`, { fix: [`rm ${s.path}`, start] });
  if (!s.answering)
    return check(id, "FAIL", `${s.path} does not answer Plugin.Activate: ${s.error ?? "no answer"}`, {
      fix: [`the plugin may be hung or gone; ${restartPlugin(f.location)}`],
    });
  const missing = ["NetworkDriver", "IpamDriver"].filter((i) => !s.implements?.includes(i));
  if (missing.length)
    return check(id, "FAIL", `${s.path} answers, but not as azure-vnet: it does not implement ${missing.join(" and ")}`, {
      fix: ["check --socket: another plugin listens there"],
    });
  if (s.mode !== undefined && (s.mode & 0o077) !== 0) {
    return check(
      id,
      "WARN",
      `${s.path} answers, but its mode is ${s.mode.toString(8).padStart(4, "0")}: users other than root can create networks and take addresses`,
      { fix: [`chmod 600 ${s.path}`] },
    );
  }
  return check(id, "PASS", `${s.path} answers Plugin.Activate (NetworkDriver, IpamDriver)`);
}
