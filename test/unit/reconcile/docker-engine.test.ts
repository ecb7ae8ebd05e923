/** The reconciler's two reads of Docker's API, against a server on a unix socket, and DOCKER_HOST as docker-modem read it. */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerUnreachableError, dockerEndpoint, dockerEngineApi } from "../../../driver/reconcile/docker-engine";

describe("DOCKER_HOST", () => {
  it("defaults to /var/run/docker.sock, also for an empty unix://", () => {
    assert.deepEqual(dockerEndpoint({}), { kind: "unix", socketPath: "/var/run/docker.sock" });
    assert.deepEqual(dockerEndpoint({ DOCKER_HOST: "" }), { kind: "unix", socketPath: "/var/run/docker.sock" });
    assert.deepEqual(dockerEndpoint({ DOCKER_HOST: "unix://" }), { kind: "unix", socketPath: "/var/run/docker.sock" });
    assert.deepEqual(dockerEndpoint({ DOCKER_HOST: "unix:///run/docker.sock" }), { kind: "unix", socketPath: "/run/docker.sock" });
  });

  it("reads tcp:// and a bare host:port as plain HTTP, and TLS on port 2376 or with DOCKER_TLS_VERIFY=1", () => {
    assert.deepEqual(dockerEndpoint({ DOCKER_HOST: "tcp://10.0.0.9:2375" }), {
      kind: "tcp",
      protocol: "http:",
      host: "10.0.0.9",
      port: 2375,
    });
    assert.deepEqual(dockerEndpoint({ DOCKER_HOST: "docker:2375" }), { kind: "tcp", protocol: "http:", host: "docker", port: 2375 });
    assert.deepEqual(dockerEndpoint({ DOCKER_HOST: "tcp://[::1]:2376" }), { kind: "tcp", protocol: "https:", host: "::1", port: 2376 });
    assert.deepEqual(dockerEndpoint({ DOCKER_HOST: "tcp://docker:2375", DOCKER_TLS_VERIFY: "1" }), {
      kind: "tcp",
      protocol: "https:",
      host: "docker",
      port: 2375,
    });
  });

  it("refuses ssh:// and npipe:// with a sentence, when asked, not at start", async () => {
    const ssh = dockerEndpoint({ DOCKER_HOST: "ssh://me@docker" });
    assert.equal(ssh.kind, "unsupported");
    await assert.rejects(dockerEngineApi({ DOCKER_HOST: "ssh://me@docker" }).listNetworks(), /unix:\/\/ or tcp:\/\/ only/);
  });
});

describe("Docker Engine API client", () => {
  let dir: string;
  let server: http.Server;
  let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  const seen: string[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "azvnet-docker-"));
    seen.length = 0;
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      answer(req, res);
    });
    await new Promise<void>((resolve) => server.listen(join(dir, "docker.sock"), resolve));
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const api = () => dockerEngineApi({ DOCKER_HOST: `unix://${join(dir, "docker.sock")}` });

  it("lists networks and running containers as Docker answers them", async () => {
    answer = (req, res) => {
      res.setHeader("Content-Type", "application/json");
      res.end(req.url === "/networks" ? '[{"Id":"n1","Name":"vnet","Driver":"azure-vnet"}]' : '[{"Id":"c1","State":"running"}]');
    };
    assert.deepEqual(await api().listNetworks(), [{ Id: "n1", Name: "vnet", Driver: "azure-vnet" }]);
    assert.deepEqual(await api().listContainers(), [{ Id: "c1", State: "running" }]);
    assert.deepEqual(seen, ["GET /networks", "GET /containers/json"]);
  });

  it("fails with Docker's own message on an error status, and on an answer that is not JSON", async () => {
    answer = (_req, res) => {
      res.statusCode = 500;
      res.end('{"message":"daemon is shutting down"}');
    };
    await assert.rejects(api().listNetworks(), /GET \/networks with HTTP 500: daemon is shutting down/);
    answer = (_req, res) => res.end("<html>");
    await assert.rejects(api().listContainers(), /answer to GET \/containers\/json is not JSON/);
  });

  it("fails with the socket's error when nothing listens there, as unreachable, naming where it tried", async () => {
    const socket = join(dir, "absent.sock");
    await assert.rejects(dockerEngineApi({ DOCKER_HOST: `unix://${socket}` }).listNetworks(), (err: Error) => {
      assert.ok(err instanceof DockerUnreachableError);
      assert.equal(err.where, `unix://${socket}`);
      assert.match(err.message, /ENOENT/);
      return true;
    });
  });

  it("an HTTP error is an answer, not unreachable", async () => {
    answer = (_req, res) => {
      res.statusCode = 500;
      res.end('{"message":"boom"}');
    };
    await assert.rejects(api().listNetworks(), (err: Error) => !(err instanceof DockerUnreachableError));
  });
});
