/** doctor's checks of the Docker side: the managed plugin enabled, Docker's API reachable from it, reconciliation recent. */
import assert from "node:assert/strict";
import { runDoctor } from "../../../driver/cli/doctor";
import type { Facts } from "../../../driver/cli/facts";
import type { PluginCandidate } from "../../../driver/cli/locate";
import { healthy, READ_AT, reconcileReport } from "./fixtures";

const ID = "d".repeat(64);
const SOCKET = `/run/docker/plugins/${ID}/azvnet.sock`;

function managed(enabled = true, extra: Partial<PluginCandidate> = {}): Facts {
  const f = healthy();
  const plugin: PluginCandidate = {
    id: ID,
    name: "azure-vnet:latest",
    enabled,
    socket: SOCKET,
    dockerSocketSource: "/run/docker.sock",
    ...extra,
  };
  f.location = {
    socket: enabled ? SOCKET : "/run/docker/plugins/azure-vnet.sock",
    how: enabled ? "managed" : "legacy",
    plugin,
    candidates: [plugin],
    dockerSocket: "/run/docker.sock",
  };
  f.socket.path = f.location.socket;
  f.daemon = {
    ok: true,
    value: {
      startedAt: new Date(READ_AT - 3_600_000).toISOString(),
      reconcileIntervalSeconds: 30,
      dockerHost: "unix:///run/docker.sock",
      lastReconcile: f.lastReconcile ?? null,
    },
  };
  return f;
}

const checkOf = (f: Facts, id: string) => {
  const c = runDoctor(f).checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id}`);
  return c;
};

describe("doctor: the Docker side", () => {
  it("is healthy with an enabled managed plugin that reconciled recently, and says which plugin it looked at", () => {
    const report = runDoctor(managed());
    assert.equal(report.healthy, true, JSON.stringify(report.checks.filter((c) => c.verdict !== "PASS")));
    assert.equal(report.plugin, `managed plugin azure-vnet:latest (id dddddddddddd), enabled, socket ${SOCKET}`);
    assert.equal(checkOf(managed(), "plugin").finding, `managed plugin azure-vnet:latest is enabled; its socket is ${SOCKET}`);
    assert.equal(
      checkOf(managed(), "docker-api").finding,
      `the plugin reached Docker's API at unix:///run/docker.sock at 2026-03-01T11:59:40.000Z`,
    );
    assert.equal(checkOf(managed(), "reconcile").finding, "the last reconciliation with Docker succeeded 20 s ago (every 30 s)");
  });

  it("fails a disabled plugin with the command that enables it, by its name; the socket check says the same", () => {
    const f = managed(false);
    f.socket = { path: f.location?.socket ?? "", exists: false, isSocket: false, answering: false };
    delete f.lastReconcile;
    const c = checkOf(f, "plugin");
    assert.equal(c.verdict, "FAIL");
    assert.equal(c.finding, "managed plugin azure-vnet:latest is installed but disabled: Docker cannot use its networks");
    assert.deepEqual(c.fix, ["docker plugin enable azure-vnet:latest"]);
    assert.deepEqual(checkOf(f, "socket").fix, ["docker plugin enable azure-vnet:latest"]);
  });

  it("fails when nothing is installed and no legacy install answers", () => {
    const f = healthy();
    f.socket = { path: "/run/docker/plugins/azure-vnet.sock", exists: false, isSocket: false, answering: false };
    const c = checkOf(f, "plugin");
    assert.equal(c.verdict, "FAIL");
    assert.match(c.fix?.[0] ?? "", /^install it: docker plugin install --grant-all-permissions /);
  });

  it("names the docker-socket mount, and the commands that repoint it, when the plugin cannot reach Docker", () => {
    const f = managed(true, { dockerSocketSource: "/tmp/wrong" });
    f.lastReconcile = reconcileReport(READ_AT - 5_000, {
      error: "unix:///run/docker.sock: connect ECONNREFUSED /run/docker.sock",
      unreachable: "unix:///run/docker.sock",
    });
    const report = runDoctor(f);
    assert.equal(report.healthy, false);
    const c = checkOf(f, "docker-api");
    assert.equal(c.verdict, "FAIL");
    assert.match(
      c.finding,
      /^the plugin cannot reach Docker's API at unix:\/\/\/run\/docker\.sock \(tried at 2026-03-01T11:59:55\.000Z\): .*ECONNREFUSED.*; the docker-socket mount \(its source is \/tmp\/wrong\) is not Docker's socket/,
    );
    assert.deepEqual(c.fix, [
      "docker plugin disable -f azure-vnet:latest && docker plugin set azure-vnet:latest docker-socket.source=/run/docker.sock && docker plugin enable azure-vnet:latest",
    ]);
    // The host's own Docker socket, when DOCKER_HOST names another one.
    if (f.location) f.location.dockerSocket = "/var/lib/sim/vm1/docker.sock";
    assert.match(checkOf(f, "docker-api").fix?.[0] ?? "", /docker-socket\.source=\/var\/lib\/sim\/vm1\/docker\.sock && /);
    const r = checkOf(f, "reconcile");
    assert.equal(r.verdict, "FAIL");
    assert.deepEqual(r.fix, ["make Docker's API reachable from the plugin: see the docker-api check"]);
  });

  it("tells a legacy install how to point DOCKER_HOST at Docker", () => {
    const f = healthy();
    f.lastReconcile = reconcileReport(READ_AT - 5_000, {
      error: "connect ENOENT /run/docker.sock",
      unreachable: "unix:///run/docker.sock",
    });
    const c = checkOf(f, "docker-api");
    assert.equal(c.verdict, "FAIL");
    assert.match(
      c.fix?.[0] ?? "",
      /^set DOCKER_HOST=unix:\/\/\/run\/docker\.sock in the azure-vnet service's environment .* systemctl restart azure-vnet$/,
    );
  });

  it("fails a reconciliation that stopped: older than three intervals and a minute", () => {
    const f = managed();
    f.lastReconcile = reconcileReport(READ_AT - 151_000);
    const c = checkOf(f, "reconcile");
    assert.equal(c.verdict, "FAIL");
    assert.match(c.finding, /was 151 s ago .* although it runs every 30 s$/);
    assert.deepEqual(c.fix, [
      "restart the plugin, which rebuilds bridges, routes and its firewall chains from its state at start: docker plugin disable -f azure-vnet:latest && docker plugin enable azure-vnet:latest",
    ]);
    f.lastReconcile = reconcileReport(READ_AT - 149_000);
    assert.equal(checkOf(f, "reconcile").verdict, "PASS");
  });

  it("fails a reconciliation that Docker answered with an error, and warns about items it could not handle", () => {
    const f = managed();
    f.lastReconcile = reconcileReport(READ_AT - 1_000, { error: "Docker answered GET /networks with HTTP 500: boom" });
    assert.equal(checkOf(f, "docker-api").verdict, "FAIL");
    assert.equal(checkOf(f, "reconcile").verdict, "FAIL");
    f.lastReconcile = { ...reconcileReport(READ_AT - 1_000), itemErrors: ["endpoint abc: busy"] };
    assert.equal(checkOf(f, "reconcile").verdict, "WARN");
  });

  it("uses the plugin's own name in every restart fix", () => {
    const f = managed(true, { name: "registry:5000/azure-vnet:1.2.0" });
    f.kernel.firewall = { ok: true, value: { ...(f.kernel.firewall.ok ? f.kernel.firewall.value : ({} as never)), forwardChain: false } };
    const c = checkOf(f, "firewall");
    assert.equal(c.verdict, "FAIL");
    assert.match(
      c.fix?.[0] ?? "",
      /: docker plugin disable -f registry:5000\/azure-vnet:1\.2\.0 && docker plugin enable registry:5000\/azure-vnet:1\.2\.0$/,
    );
  });
});
