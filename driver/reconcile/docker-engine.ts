/**
 * Docker's Engine API as the reconciler reads it: the networks and the
 * running containers, two GETs over node:http, at DOCKER_HOST as the docker
 * CLI reads it (unix:///var/run/docker.sock when unset; tcp://, with TLS when
 * DOCKER_TLS_VERIFY=1 or port 2376, certificates from DOCKER_CERT_PATH).
 * A general client library (dockerode, with ssh, gRPC and protobuf behind it)
 * costs the daemon about 25 MiB of memory and a tenth of a second at every
 * start for these two requests.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import type https from "node:https";
import { join } from "node:path";
import type { DockerApi, DockerContainerInfo, DockerNetworkInfo } from "./docker";

/** Docker's answers take milliseconds; a daemon that hangs must not stall reconciliation for long. */
const TIMEOUT_MS = 10_000;
const DEFAULT_SOCKET = "/var/run/docker.sock";

/** Where Docker's API is: a unix socket, or a host and port (with TLS options when https). */
export type DockerEndpoint =
  | { kind: "unix"; socketPath: string }
  | { kind: "tcp"; protocol: "http:" | "https:"; host: string; port: number }
  | { kind: "unsupported"; reason: string };

/** DOCKER_HOST as the docker CLI and docker-modem read it. Pure. */
export function dockerEndpoint(env: NodeJS.ProcessEnv): DockerEndpoint {
  const host = env.DOCKER_HOST ?? "";
  if (host === "") return { kind: "unix", socketPath: DEFAULT_SOCKET };
  if (host.startsWith("unix://")) return { kind: "unix", socketPath: host.slice("unix://".length) || DEFAULT_SOCKET };
  let url: URL;
  try {
    url = new URL(host.includes("//") ? host : `tcp://${host}`);
  } catch {
    return { kind: "unsupported", reason: `DOCKER_HOST=${host} is not a URL such as unix:///var/run/docker.sock or tcp://host:2375` };
  }
  if (!["tcp:", "http:", "https:"].includes(url.protocol)) {
    return { kind: "unsupported", reason: `DOCKER_HOST=${host}: the plugin reaches Docker over unix:// or tcp:// only` };
  }
  const tls = url.protocol === "https:" || env.DOCKER_TLS_VERIFY === "1" || url.port === "2376";
  const port = Number(url.port) || (tls ? 2376 : 2375);
  return { kind: "tcp", protocol: tls ? "https:" : "http:", host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port };
}

/** The client certificate and CA of DOCKER_CERT_PATH, read when a TLS request is made. */
function tlsOptions(env: NodeJS.ProcessEnv): https.RequestOptions {
  const dir = env.DOCKER_CERT_PATH;
  if (!dir) return {};
  return { ca: readFileSync(join(dir, "ca.pem")), cert: readFileSync(join(dir, "cert.pem")), key: readFileSync(join(dir, "key.pem")) };
}

/** How DOCKER_HOST is written for this endpoint: what a user compares with a mount or a setting. */
export function describeDockerEndpoint(endpoint: DockerEndpoint): string {
  if (endpoint.kind === "unix") return `unix://${endpoint.socketPath}`;
  if (endpoint.kind === "tcp") return `${endpoint.protocol === "https:" ? "https" : "tcp"}://${endpoint.host}:${endpoint.port}`;
  return "an unsupported DOCKER_HOST";
}

/**
 * Docker's API could not be reached at all (no socket, a socket nobody listens
 * on, no permission, no answer): the request never got an HTTP status.
 */
export class DockerUnreachableError extends Error {
  constructor(
    /** Where it was tried, as DOCKER_HOST spells it. */
    readonly where: string,
    message: string,
  ) {
    super(message);
    this.name = "DockerUnreachableError";
  }
}

async function getJson<T>(endpoint: DockerEndpoint, path: string, env: NodeJS.ProcessEnv, timeoutMs = TIMEOUT_MS): Promise<T> {
  if (endpoint.kind === "unsupported") throw new Error(endpoint.reason);
  const where = describeDockerEndpoint(endpoint);
  // node:https (and TLS with it) is loaded only for a Docker reached over TLS: the plugin's own socket is a unix one.
  const tls = endpoint.kind === "tcp" && endpoint.protocol === "https:" ? await import("node:https") : undefined;
  return new Promise<T>((resolve, reject) => {
    const options: https.RequestOptions = { method: "GET", path, timeout: timeoutMs, headers: { Accept: "application/json" } };
    let req: http.ClientRequest;
    if (endpoint.kind === "unix") req = http.request({ ...options, socketPath: endpoint.socketPath });
    else {
      const where = { ...options, host: endpoint.host, port: endpoint.port };
      req = tls ? tls.request({ ...where, ...tlsOptions(env) }) : http.request(where);
    }
    req.on("timeout", () => req.destroy(new Error(`Docker did not answer GET ${path} within ${timeoutMs / 1000} s`)));
    // Before a response, any failure means Docker was not reached; after it, the answer was cut short.
    let answered = false;
    req.on("error", (err) => reject(answered ? err : new DockerUnreachableError(where, `${where}: ${err.message}`)));
    req.on("response", (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          reject(new Error(`Docker answered GET ${path} with HTTP ${status}: ${dockerMessage(text)}`));
          return;
        }
        try {
          resolve(JSON.parse(text) as T);
        } catch (err) {
          reject(new Error(`Docker's answer to GET ${path} is not JSON: ${(err as Error).message}`));
        }
      });
    });
    req.end();
  });
}

/** Docker's errors are `{"message": "..."}`; anything else is shown as it came, shortened. */
function dockerMessage(text: string): string {
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof message === "string") return message;
  } catch {
    // not JSON: the text itself
  }
  return text.trim().slice(0, 200) || "(no body)";
}

/** A plugin as GET /plugins lists it: the fields the operator commands read. */
export interface DockerPluginInfo {
  Id?: string;
  Name?: string;
  Enabled?: boolean;
  Config?: { Entrypoint?: string[]; Interface?: { Types?: string[]; Socket?: string } };
  Settings?: { Mounts?: { Name?: string; Source?: string | null; Destination?: string }[] };
}

/** The plugins Docker has installed (GET /plugins), for the operator commands on the host. */
export function listDockerPlugins(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<DockerPluginInfo[]> {
  return getJson<DockerPluginInfo[]>(dockerEndpoint(env), "/plugins", env, timeoutMs);
}

/** Docker's API where DOCKER_HOST says; nothing is read or connected until the first call. */
export function dockerEngineApi(env: NodeJS.ProcessEnv = process.env): DockerApi {
  const endpoint = dockerEndpoint(env);
  return {
    // Without ?all=1 Docker lists running containers only, which is what the reconciler compares.
    listNetworks: () => getJson<DockerNetworkInfo[]>(endpoint, "/networks", env),
    listContainers: () => getJson<DockerContainerInfo[]>(endpoint, "/containers/json", env),
  };
}
