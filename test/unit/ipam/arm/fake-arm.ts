/**
 * A fake Azure Resource Manager and IMDS (compute metadata, identity token,
 * the network document) on one loopback HTTP server, for the warm pool's
 * tests. The NIC document changes only through a PUT with the right etag, and
 * IMDS lists an ipconfig only once the PUT's operation has succeeded, as on
 * Azure. Knobs inject the failures the plugin must handle.
 */
import type http from "node:http";
import { fakeServer, type FakeServer } from "../helpers";

export const SUB = "00000000-0000-0000-0000-000000000001";
export const RG = "rg1";
export const VM_NAME = "vm1";
export const VM_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachines/${VM_NAME}`;
export const SUBNET_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default`;
export const NIC_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/networkInterfaces/vm1-nic`;
const OTHER_NIC_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/networkInterfaces/vm1-nic2`;
/** ARM's spelling of the NIC's MAC; the metadata (and the plugin) writes 00:0d:3a:00:00:01. */
export const ARM_MAC = "00-0D-3A-00-00-01";
export const PRINCIPAL = "11111111-2222-3333-4444-555555555555";

type Json = Record<string, unknown>;
type IpConfig = { name: string; id?: string; etag?: string; properties: Json };

export interface Knobs {
  noIdentity: boolean;
  forbidden: boolean;
  /** Answer the next n PUTs with 412 as if someone else changed the NIC first. */
  stale: number;
  /** Answer the next n PUTs with 409 AnotherOperationInProgress (Retry-After 3). */
  busy: number;
  /** Answer the next n ARM requests with 429 (Retry-After 2). */
  throttle: number;
  /** Answer the next n ARM requests with 503. */
  unavailable: number;
  /** Polls of an operation answered InProgress before it succeeds. */
  pollsBeforeDone: number;
  /** While true, operations stay InProgress (a plugin killed meanwhile never sees the end). */
  holdOperations: boolean;
  /** Token lifetime in seconds. */
  tokenSeconds: number;
  /** The next operation fails with this error; ARM keeps the ipconfigs it was adding (provisioning failed). */
  failOperation: { code: string; message: string } | undefined;
  /** PUTs answer without Azure-AsyncOperation: the NIC's provisioningState tells when they are done. */
  noAsyncHeader: boolean;
}

export class FakeArm {
  server!: FakeServer;
  knobs: Knobs = {
    noIdentity: false,
    forbidden: false,
    stale: 0,
    busy: 0,
    throttle: 0,
    unavailable: 0,
    pollsBeforeDone: 1,
    holdOperations: false,
    tokenSeconds: 3600,
    failOperation: undefined,
    noAsyncHeader: false,
  };
  /** What ARM has (including an update still running). */
  ipConfigs: IpConfig[];
  /** What IMDS (the fabric) has: the ipconfigs of the last operation that succeeded. */
  applied: IpConfig[];
  etag = 'W/"1"';
  puts: { ifMatch: string | undefined; body: Json }[] = [];
  tokenCalls = 0;
  armCalls: string[] = [];
  /** Addresses other NICs of the VNet hold. */
  takenElsewhere = new Set<string>();
  private operations = new Map<string, { polls: number; ipConfigs: IpConfig[] }>();
  private nextAddress = 10;
  private nextOp = 1;

  constructor(
    private readonly clock: { now(): number },
    secondaries: IpConfig[] = [],
  ) {
    this.ipConfigs = [ipConfig("ipconfig1", "10.0.0.4", { primary: true }), ...secondaries];
    this.applied = structuredClone(this.ipConfigs);
  }

  async start(): Promise<this> {
    this.server = await fakeServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => this.handle(req, body, res));
    });
    return this;
  }

  get url(): string {
    return this.server.baseUrl;
  }

  close(): Promise<void> {
    return this.server.close();
  }

  own(): IpConfig[] {
    return this.ipConfigs.filter((c) => c.name.startsWith("azvnet-"));
  }

  /** Lets held operations finish at their next poll. */
  releaseOperations(): void {
    this.knobs.holdOperations = false;
  }

  private handle(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    const send = (status: number, doc: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "Content-Type": "application/json", ...headers });
      res.end(JSON.stringify(doc));
    };
    if (url.pathname.startsWith("/metadata/")) {
      if (req.headers.metadata !== "true")
        return send(400, { error: "bad_request", error_description: "Required metadata header not specified" });
      if (url.pathname === "/metadata/instance/compute") {
        return send(200, { subscriptionId: SUB, resourceGroupName: RG, name: VM_NAME, location: "westeurope", resourceId: VM_ID });
      }
      if (url.pathname === "/metadata/instance") return send(200, this.imdsInstance());
      if (url.pathname === "/metadata/identity/oauth2/token") {
        this.tokenCalls += 1;
        if (this.knobs.noIdentity) return send(400, { error: "invalid_request", error_description: "Identity not found" });
        const claims = Buffer.from(JSON.stringify({ oid: PRINCIPAL })).toString("base64url");
        const expiresOn = Math.floor(this.clock.now() / 1000) + this.knobs.tokenSeconds;
        return send(200, {
          access_token: `x.${claims}.${this.tokenCalls}`,
          expires_in: String(this.knobs.tokenSeconds),
          expires_on: String(expiresOn),
          resource: url.searchParams.get("resource"),
          token_type: "Bearer",
          client_id: "client-1",
        });
      }
      return send(404, {});
    }
    this.armCalls.push(`${req.method} ${url.pathname}`);
    if (!/^Bearer x\./.test(req.headers.authorization ?? ""))
      return send(401, { error: { code: "AuthenticationFailed", message: "no token" } });
    if (this.knobs.throttle > 0) {
      this.knobs.throttle -= 1;
      return send(429, { error: { code: "TooManyRequests", message: "throttled" } }, { "Retry-After": "2" });
    }
    if (this.knobs.unavailable > 0) {
      this.knobs.unavailable -= 1;
      return send(503, { error: { code: "ServiceUnavailable", message: "try later" } });
    }
    if (url.pathname === VM_ID && req.method === "GET") {
      return send(200, {
        id: VM_ID,
        name: VM_NAME,
        properties: {
          networkProfile: {
            networkInterfaces: [
              { id: OTHER_NIC_ID, properties: { primary: false } },
              { id: NIC_ID, properties: { primary: true } },
            ],
          },
        },
      });
    }
    if (url.pathname === OTHER_NIC_ID && req.method === "GET") {
      return send(200, { id: OTHER_NIC_ID, etag: 'W/"9"', properties: { macAddress: "00-0D-3A-00-00-99", ipConfigurations: [] } });
    }
    if (url.pathname === NIC_ID && req.method === "GET") {
      // Without an async operation URL, reading the NIC is how its update is followed.
      if (this.knobs.noAsyncHeader) for (const id of [...this.operations.keys()]) this.poll(id, () => undefined);
      return send(200, this.nicDoc(), { ETag: this.etag });
    }
    if (url.pathname === NIC_ID && req.method === "PUT") return this.put(req, JSON.parse(body) as Json, send);
    const op = /^\/operations\/(\d+)$/.exec(url.pathname);
    if (op && req.method === "GET") return this.poll(op[1], send);
    return send(404, { error: { code: "ResourceNotFound", message: `${url.pathname} not found` } });
  }

  private put(req: http.IncomingMessage, doc: Json, send: (s: number, d: unknown, h?: Record<string, string>) => void): void {
    const ifMatch = req.headers["if-match"];
    this.puts.push({ ifMatch, body: doc });
    if (this.knobs.forbidden) {
      return send(403, {
        error: {
          code: "AuthorizationFailed",
          message: `The client '${PRINCIPAL}' does not have authorization to perform action 'Microsoft.Network/networkInterfaces/write'`,
        },
      });
    }
    if (this.knobs.stale > 0) {
      this.knobs.stale -= 1;
      this.etag = `W/"${Number(this.etag.slice(3, -1)) + 1}"`;
    }
    if (ifMatch !== undefined && ifMatch !== this.etag)
      return send(412, { error: { code: "PreconditionFailed", message: "etag mismatch" } });
    if (this.knobs.busy > 0 || [...this.operations.values()].length > 0) {
      if (this.knobs.busy > 0) this.knobs.busy -= 1;
      return send(
        409,
        { error: { code: "AnotherOperationInProgress", message: "Another operation on this resource is in progress" } },
        { "Retry-After": "3" },
      );
    }
    const wanted = ((doc.properties as Json).ipConfigurations as IpConfig[]).map((c) => structuredClone(c));
    for (const c of wanted) {
      const address = c.properties.privateIPAddress as string | undefined;
      if (c.properties.privateIPAllocationMethod === "Static" && address && !this.ipConfigs.some((o) => o.name === c.name)) {
        if (this.takenElsewhere.has(address) || this.ipConfigs.some((o) => o.properties.privateIPAddress === address)) {
          return send(400, { error: { code: "PrivateIPAddressInUse", message: `IP address ${address} is already in use` } });
        }
      }
      if (!address) c.properties.privateIPAddress = this.freeAddress();
      c.id ??= `${NIC_ID}/ipConfigurations/${c.name}`;
    }
    this.ipConfigs = wanted;
    this.etag = `W/"${Number(this.etag.slice(3, -1)) + 1}"`;
    const id = String(this.nextOp++);
    this.operations.set(id, { polls: 0, ipConfigs: structuredClone(wanted) });
    const asyncHeader: Record<string, string> = this.knobs.noAsyncHeader ? {} : { "Azure-AsyncOperation": `${this.url}/operations/${id}` };
    send(200, this.nicDoc("Updating"), { ...asyncHeader, "Retry-After": "1" });
  }

  private poll(id: string, send: (s: number, d: unknown) => void): void {
    const op = this.operations.get(id);
    if (!op) return send(404, { error: { code: "NotFound", message: "no such operation" } });
    op.polls += 1;
    if (this.knobs.holdOperations || op.polls <= this.knobs.pollsBeforeDone) return send(200, { status: "InProgress" });
    this.operations.delete(id);
    const failed = this.knobs.failOperation;
    if (failed) {
      this.knobs.failOperation = undefined;
      return send(200, { status: "Failed", error: failed });
    }
    this.applied = op.ipConfigs;
    send(200, { status: "Succeeded" });
  }

  /** Completes a held operation as Azure would with nobody polling. */
  finishOperations(): void {
    for (const [id, op] of this.operations) {
      this.operations.delete(id);
      this.applied = op.ipConfigs;
    }
  }

  private freeAddress(): string {
    for (;;) {
      const address = `10.0.0.${this.nextAddress++}`;
      if (!this.takenElsewhere.has(address) && !this.ipConfigs.some((c) => c.properties.privateIPAddress === address)) return address;
    }
  }

  private nicDoc(state = this.operations.size > 0 ? "Updating" : "Succeeded"): Json {
    return {
      name: "vm1-nic",
      id: NIC_ID,
      etag: this.etag,
      location: "westeurope",
      properties: { provisioningState: state, macAddress: ARM_MAC, primary: true, ipConfigurations: structuredClone(this.ipConfigs) },
    };
  }

  private imdsInstance(): Json {
    return {
      compute: { resourceGroupName: RG },
      network: {
        interface: [
          {
            macAddress: ARM_MAC.replace(/-/g, ""),
            ipv4: {
              ipAddress: this.applied
                .filter((c) => c.properties.privateIPAddressVersion !== "IPv6")
                .map((c) => ({ privateIpAddress: c.properties.privateIPAddress, publicIpAddress: "" })),
              subnet: [{ address: "10.0.0.0", prefix: "24" }],
            },
            // IMDS lists IPv6 ipconfigs apart, without a subnet.
            ipv6: {
              ipAddress: this.applied
                .filter((c) => c.properties.privateIPAddressVersion === "IPv6")
                .map((c) => ({ privateIpAddress: c.properties.privateIPAddress, publicIpAddress: "" })),
            },
          },
        ],
      },
    };
  }
}

export function ipConfig(name: string, address: string, extra: Json = {}): IpConfig {
  return {
    name,
    id: `${NIC_ID}/ipConfigurations/${name}`,
    etag: 'W/"0"',
    properties: {
      primary: false,
      privateIPAddress: address,
      privateIPAllocationMethod: "Static",
      privateIPAddressVersion: "IPv4",
      subnet: { id: SUBNET_ID },
      provisioningState: "Succeeded",
      ...extra,
    },
  };
}
