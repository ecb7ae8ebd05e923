/**
 * The plugin under test for the lifecycle fuzzer: the real daemon started
 * in-process on a temporary directory, with a one-NIC metadata file, a fake
 * kernel, a Docker that knows no networks or containers, a logger that keeps
 * quiet but reports each reconciliation, and an HTTP client for its socket.
 */
import http from "node:http";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { resolveServeConfig } from "../../../driver/config";
import { type RunningPlugin, startPlugin } from "../../../driver/plugin";
import type { DockerApi } from "../../../driver/reconcile/docker";
import { FakeDataplane } from "../network/fake-dataplane";
import { GATEWAY, PRIMARY, SECONDARIES, SUBNET } from "./lifecycle-model";
import { recordingLogger } from "../support/recording-logger";

/** The fake kernel's eth0, so CreateNetwork finds the NIC the metadata names. */
const NIC_MAC = "00:0d:3a:00:00:01";
/** The message the reconciler logs at the end of every run, with its report as fields. */
const RECONCILED = "reconciled with Docker";
const REQUEST_TIMEOUT_MS = 20_000;

export interface Answer {
  /** 0 when no HTTP answer came back. */
  status: number;
  body: unknown;
  transportError?: string;
}

/** What one reconciliation run reported releasing. */
export interface ReconcileOutcome {
  addressesReleased: string[];
  /** First 12 characters of each endpoint ID. */
  endpointsReleased: string[];
  /** First 12 characters of each network ID. */
  networksRemoved: string[];
}

export interface HarnessHooks {
  /** Docker was asked for its lists: a reconciliation run begins. */
  onReconcileStart(): void;
  onReconcileEnd(outcome: ReconcileOutcome): void;
  /** The networks Docker lists (it never lists a container); none if absent. */
  dockerNetworks?(): string[];
}

export interface Harness {
  plugin: RunningPlugin;
  dataplane: FakeDataplane;
  call(method: string, body: unknown): Promise<Answer>;
  /** The last error-level log lines, for diagnosing an internal error. */
  recentErrors(): string[];
  close(): Promise<void>;
}

/** The file-source shape: one NIC, the primary address and the secondary ipconfigs. */
function metadataDocument(): object {
  return {
    Interfaces: [
      {
        MacAddress: NIC_MAC,
        IsPrimary: true,
        IPSubnets: [
          {
            Prefix: SUBNET,
            IPAddresses: [{ Address: PRIMARY, IsPrimary: true }, ...SECONDARIES.map((a) => ({ Address: a, IsPrimary: false }))],
          },
        ],
      },
    ],
  };
}

function listOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== "string" || value === "" || value === "none") return [];
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** On tmpfs when there is one: the plugin fsyncs its checkpoint after every change, and on a disk that is most of the run time. */
async function scratchDir(): Promise<string> {
  try {
    return await fs.mkdtemp(path.join("/dev/shm", "azvnet-lifecycle-"));
  } catch {
    return fs.mkdtemp(path.join(os.tmpdir(), "azvnet-lifecycle-"));
  }
}

export async function startHarness(hooks: HarnessHooks): Promise<Harness> {
  const dir = await scratchDir();
  const metadataFile = path.join(dir, "interfaces.json");
  const bootIdPath = path.join(dir, "boot_id");
  await fs.writeFile(metadataFile, JSON.stringify(metadataDocument()));
  await fs.writeFile(bootIdPath, "lifecycle-fuzz-boot\n");
  const config = resolveServeConfig(
    {
      socket: path.join(dir, "plugin.sock"),
      stateDir: path.join(dir, "state"),
      metadataSource: "file",
      metadataFile,
      reconcileInterval: "1",
      reconcileGrace: "1",
      logLevel: "error",
    },
    {},
  );

  const errors: string[] = [];
  const logger = recordingLogger((level, msg, fields) => {
    if (msg === RECONCILED) {
      hooks.onReconcileEnd({
        addressesReleased: listOf(fields.addressesReleased),
        endpointsReleased: listOf(fields.endpointsReleased),
        networksRemoved: listOf(fields.networksRemoved),
      });
    } else if (level === "error") {
      errors.push(`${msg} ${JSON.stringify(fields)}`);
      if (errors.length > 20) errors.shift();
    }
  });
  const docker: DockerApi = {
    listNetworks: async () => {
      hooks.onReconcileStart();
      return (hooks.dockerNetworks?.() ?? []).map((id) => ({
        Id: id,
        Name: `net-${id.slice(0, 12)}`,
        Driver: "azure-vnet",
        IPAM: { Driver: "azure-vnet", Config: [{ Subnet: SUBNET, Gateway: GATEWAY }] },
        Options: {},
      }));
    },
    listContainers: async () => [],
  };
  const dataplane = new FakeDataplane();
  let plugin: RunningPlugin;
  try {
    plugin = await startPlugin({ config, logger, dataplane, docker, bootIdPath });
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }

  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const call = (method: string, body: unknown): Promise<Answer> =>
    new Promise((resolve) => {
      const payload = JSON.stringify(body);
      const req = http.request(
        {
          socketPath: config.socket,
          path: `/${method}`,
          method: "POST",
          agent,
          headers: { Accept: "application/vnd.docker.plugins.v1.2+json", "Content-Length": Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // Kept as text; the model reports a non-JSON answer.
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on("error", (err) => resolve({ status: 0, body: undefined, transportError: err.message }));
        },
      );
      req.on("error", (err) => resolve({ status: 0, body: undefined, transportError: err.message }));
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.end(payload);
    });

  return {
    plugin,
    dataplane,
    call,
    recentErrors: () => [...errors],
    async close() {
      agent.destroy();
      try {
        await plugin.close();
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    },
  };
}
