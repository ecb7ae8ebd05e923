/**
 * Which plugin socket the operator commands talk to. A managed plugin's socket
 * is under /run/docker/plugins/<plugin id>/, so the enabled one is found through
 * Docker's API (GET /plugins); the legacy install's socket is the fallback, and
 * --socket (or AZURE_VNET_SOCKET) overrides both.
 */
import { join } from "node:path";
import { DRIVER_NAME } from "../reconcile/docker";
import type { DockerPluginInfo } from "../reconcile/docker-engine";
import { shortId } from "../lib/text";

/** Where Docker keeps the sockets of managed plugins, one directory per plugin id. */
export const MANAGED_PLUGINS_DIR = "/run/docker/plugins";
const NETWORK_DRIVER = "docker.networkdriver/1.0";
/** The program the plugin's entrypoint runs, whatever name (or --alias) it was installed under. */
const ENTRYPOINT = /(?:^|\/)azure-vnet-plugin(?:\.js)?$/;

export interface PluginCandidate {
  id: string;
  /** As Docker names it ("azure-vnet:latest", "registry:5000/azure-vnet:1.2.0"). */
  name: string;
  enabled: boolean;
  /** The socket on the host: /run/docker/plugins/<id>/<interface socket>. */
  socket: string;
  /** Where its docker-socket mount comes from on the host, when Docker says. */
  dockerSocketSource?: string;
}

export interface PluginLocation {
  /** The socket the commands talk to. */
  socket: string;
  /** How it was chosen: given with --socket, an enabled managed plugin, or the legacy install's path. */
  how: "given" | "managed" | "legacy";
  /** The managed plugin whose socket it is, or the one to enable when none is enabled. */
  plugin?: PluginCandidate;
  /** Every installed plugin that is azure-vnet, enabled first. */
  candidates: PluginCandidate[];
  /** Why Docker could not be asked; candidates is then empty. */
  dockerError?: string;
  /** Docker's socket on this host, for fixes: DOCKER_HOST's when it is a unix one, else /run/docker.sock. */
  dockerSocket: string;
}

/** Where Docker's API listens on a host, and where config.json's docker-socket mount points by default. */
export const DOCKER_SOCKET = "/run/docker.sock";

/** The installed plugins that are azure-vnet network drivers, enabled ones first. Pure. */
export function pluginCandidates(plugins: readonly DockerPluginInfo[]): PluginCandidate[] {
  const out: PluginCandidate[] = [];
  for (const p of plugins) {
    const types = p.Config?.Interface?.Types ?? [];
    const socket = p.Config?.Interface?.Socket;
    if (!p.Id || !/^[0-9a-f]{12,64}$/.test(p.Id) || !p.Name || !socket || !types.includes(NETWORK_DRIVER)) continue;
    const ours = DRIVER_NAME.test(p.Name) || (p.Config?.Entrypoint ?? []).some((part) => ENTRYPOINT.test(part));
    // The socket name comes from the plugin's config: it must stay a file name inside the plugin's directory.
    if (!ours || socket.includes("/") || socket === "..") continue;
    const source = p.Settings?.Mounts?.find((m) => m.Name === "docker-socket")?.Source;
    out.push({
      id: p.Id,
      name: p.Name,
      enabled: p.Enabled === true,
      socket: join(MANAGED_PLUGINS_DIR, p.Id, socket),
      ...(typeof source === "string" && source && { dockerSocketSource: source }),
    });
  }
  return out.sort((a, b) => Number(b.enabled) - Number(a.enabled));
}

/** Chooses the socket: the given one, else the first enabled managed plugin's, else the legacy path. Pure. */
export function choosePlugin(opts: {
  given?: string;
  legacySocket: string;
  dockerSocket?: string;
  plugins: { ok: true; value: readonly DockerPluginInfo[] } | { ok: false; error: string };
}): PluginLocation {
  const candidates = opts.plugins.ok ? pluginCandidates(opts.plugins.value) : [];
  const base = {
    candidates,
    dockerSocket: opts.dockerSocket ?? DOCKER_SOCKET,
    ...(!opts.plugins.ok && { dockerError: opts.plugins.error }),
  };
  const first = candidates[0];
  if (opts.given !== undefined) {
    // A managed plugin whose socket was given is still that plugin (for the Docker-side checks).
    const plugin = candidates.find((c) => c.socket === opts.given);
    return { socket: opts.given, how: "given", ...(plugin && { plugin }), ...base };
  }
  if (first?.enabled) return { socket: first.socket, how: "managed", plugin: first, ...base };
  return { socket: opts.legacySocket, how: "legacy", ...(first && { plugin: first }), ...base };
}

/** One line saying which plugin the commands look at, and why that one. */
export function describeLocation(l: PluginLocation): string {
  const others = l.candidates.filter((c) => c !== l.plugin).map((c) => `${c.name} (${c.enabled ? "enabled" : "disabled"})`);
  const also = others.length ? `; also installed: ${others.join(", ")}` : "";
  switch (l.how) {
    case "given":
      return `${l.socket} (given)${l.plugin ? `: managed plugin ${l.plugin.name}` : ""}${also}`;
    case "managed":
      return `managed plugin ${l.plugin?.name} (id ${shortId(l.plugin?.id ?? "")}), enabled, socket ${l.socket}${also}`;
    case "legacy":
      return `${l.socket} (legacy install)${l.plugin ? `; managed plugin ${l.plugin.name} is installed but disabled` : ""}${also}`;
  }
}
