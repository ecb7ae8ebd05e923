/**
 * Owns doctor's checks of the Docker side: the managed plugin installed and
 * enabled, Docker's API reachable from the plugin (its docker-socket mount),
 * and the last reconciliation with Docker successful and recent.
 */
import { type Check, check, restartPlugin } from "./check";
import type { Facts } from "./facts";
import { DOCKER_SOCKET, type PluginCandidate } from "./locate";
/** A reconciliation older than this many intervals (plus a minute's slack) means the loop has stopped. */
const STALE_INTERVALS = 3;

const INSTALL = "install it: docker plugin install --grant-all-permissions <registry>/azure-vnet:<version> (see docs/install.md)";

/** The managed plugin installed and enabled, as Docker's API lists it. */
export function pluginCheck(f: Facts): Check {
  const id = "plugin";
  const l = f.location;
  if (!l) return check(id, "SKIP", "Docker's plugins not looked at");
  const others = l.candidates.filter((c) => c !== l.plugin).map((c) => `also installed: ${c.name} (${c.enabled ? "enabled" : "disabled"})`);
  if (l.dockerError) {
    // A legacy install needs no Docker-side plugin; say what could not be seen all the same.
    return check(id, f.socket.answering ? "SKIP" : "WARN", `cannot ask Docker which plugins are installed: ${l.dockerError}`, {
      ...(!f.socket.answering && {
        fix: [`run as root on the Docker host, or set DOCKER_HOST to Docker's API (now ${process.env.DOCKER_HOST || "unset"})`],
      }),
    });
  }
  const p = l.plugin;
  if (!p) {
    if (f.socket.answering) return check(id, "PASS", `no managed plugin installed; the legacy install answers at ${l.socket}`);
    return check(id, "FAIL", "no azure-vnet plugin is installed in Docker, and no legacy install answers", { fix: [INSTALL] });
  }
  if (!p.enabled) {
    return check(id, "FAIL", `managed plugin ${p.name} is installed but disabled: Docker cannot use its networks`, {
      details: others,
      fix: [`docker plugin enable ${p.name}`],
    });
  }
  const several = l.candidates.filter((c) => c.enabled).length > 1 ? " (the first enabled one; see below)" : "";
  return check(id, "PASS", `managed plugin ${p.name} is enabled${several}; its socket is ${p.socket}`, { details: others });
}

/** How to point a managed plugin's docker-socket mount at Docker's socket: it can only be set while disabled. */
export function dockerSocketFix(p: PluginCandidate, dockerSocket: string): string {
  return `docker plugin disable -f ${p.name} && docker plugin set ${p.name} docker-socket.source=${dockerSocket} && docker plugin enable ${p.name}`;
}

/** Docker's API reachable from the plugin, as its last reconciliation found it. */
export function dockerApiCheck(f: Facts): Check {
  const id = "docker-api";
  const r = f.lastReconcile;
  if (!r) return check(id, "SKIP", "the plugin has not reported a reconciliation with Docker yet");
  const where = f.daemon?.ok ? f.daemon.value.dockerHost : r.unreachable;
  if (r.ok) return check(id, "PASS", `the plugin reached Docker's API${where ? ` at ${where}` : ""} at ${r.at}`);
  if (!r.unreachable) {
    return check(id, "FAIL", `Docker's API answered the plugin with an error at ${r.at}: ${r.error ?? "unknown error"}`, {
      fix: ["check dockerd (journalctl -u docker) and restart it if it is stuck: systemctl restart docker"],
    });
  }
  const consequence = "so addresses of containers Docker removed without telling the plugin are never released";
  const p = f.location?.plugin;
  if (p) {
    const source = p.dockerSocketSource ? ` (its source is ${p.dockerSocketSource})` : "";
    return check(
      id,
      "FAIL",
      `the plugin cannot reach Docker's API at ${r.unreachable} (tried at ${r.at}): ${r.error ?? "no answer"}; the docker-socket mount${source} is not Docker's socket, ${consequence}`,
      { fix: [dockerSocketFix(p, f.location?.dockerSocket ?? DOCKER_SOCKET)] },
    );
  }
  return check(
    id,
    "FAIL",
    `the plugin cannot reach Docker's API at ${r.unreachable} (tried at ${r.at}): ${r.error ?? "no answer"}, ${consequence}`,
    {
      fix: [
        `set DOCKER_HOST=unix://${DOCKER_SOCKET} in the azure-vnet service's environment (systemctl edit azure-vnet; see what it has with systemctl show azure-vnet -p Environment), then systemctl restart azure-vnet`,
      ],
    },
  );
}

/** The last reconciliation succeeded, and the loop is still running. */
export function reconcileCheck(f: Facts): Check {
  const id = "reconcile";
  const r = f.lastReconcile;
  if (!r) {
    if (!f.socket.answering) return check(id, "SKIP", "the plugin is not answering; no reconciliation to look at");
    return check(id, "SKIP", "no reconciliation with Docker recorded yet (the first runs about a second after the plugin starts)");
  }
  if (!r.ok) {
    return check(id, "FAIL", `the last reconciliation with Docker, at ${r.at}, failed: ${r.error ?? "unknown error"}`, {
      fix: [r.unreachable ? "make Docker's API reachable from the plugin: see the docker-api check" : restartPlugin(f.location)],
    });
  }
  const interval = (f.daemon?.ok ? f.daemon.value.reconcileIntervalSeconds : f.reconcileIntervalSeconds) ?? 60;
  const ageSeconds = Math.round(((f.readAt ?? Date.now()) - Date.parse(r.at)) / 1000);
  const limit = STALE_INTERVALS * interval + 60;
  if (Number.isFinite(ageSeconds) && ageSeconds > limit) {
    return check(
      id,
      "FAIL",
      `the last reconciliation with Docker was ${ageSeconds} s ago (at ${r.at}), although it runs every ${interval} s`,
      {
        details: ["the plugin's background reconciliation has stopped, or the plugin is not the one that wrote this report"],
        fix: [restartPlugin(f.location)],
      },
    );
  }
  if (r.itemErrors.length) {
    return check(id, "WARN", `the last reconciliation with Docker, at ${r.at}, could not handle ${r.itemErrors.length} item(s)`, {
      details: r.itemErrors,
      fix: ["see the plugin's log for each; the next run tries them again"],
    });
  }
  return check(id, "PASS", `the last reconciliation with Docker succeeded ${Math.max(0, ageSeconds)} s ago (every ${interval} s)`);
}
