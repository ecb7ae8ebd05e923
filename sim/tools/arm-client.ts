#!/usr/bin/env node
/**
 * A small Azure Resource Manager client for tests, run inside a VM: it finds
 * its VM through IMDS, takes a managed-identity token and talks to
 * https://management.azure.com as any client on Azure would (the VM trusts
 * the simulator's CA). Prints one JSON line.
 *
 *   arm-client.js token
 *   arm-client.js get-nic
 *   arm-client.js add NAME ADDRESS [IF_MATCH]     PUT the NIC with one more Static ipconfig
 *   arm-client.js wait OPERATION_URL              poll an Azure-AsyncOperation until it ends
 *
 * get-nic and add act on the VM's primary NIC, or on the VM's NIC number
 * ARM_CLIENT_NIC (0 the primary, 1 the next, in the VM document's order).
 */
const IMDS = "http://169.254.169.254/metadata";
const ARM = "https://management.azure.com";
const NETWORK_API = "api-version=2024-05-01";
const COMPUTE_API = "api-version=2024-07-01";

interface Result {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function call(url: string, init: RequestInit = {}): Promise<Result> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

async function token(): Promise<Result> {
  return call(`${IMDS}/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(`${ARM}/`)}`, {
    headers: { Metadata: "true" },
  });
}

async function arm(path: string, init: RequestInit = {}): Promise<Result> {
  const t = await token();
  if (t.status !== 200) throw new Error(`token: HTTP ${t.status} ${JSON.stringify(t.body)}`);
  const headers = { ...(init.headers as Record<string, string>), Authorization: `Bearer ${String(t.body.access_token)}` };
  return call(path.startsWith("https://") ? path : `${ARM}${path}`, { ...init, headers });
}

/** This VM's NIC id (the ARM_CLIENT_NIC-th, default the primary): IMDS gives the VM's resource id, ARM its NICs. */
async function nicPath(): Promise<string> {
  const index = Number(process.env.ARM_CLIENT_NIC ?? "0");
  const compute = await call(`${IMDS}/instance/compute?api-version=2021-02-01`, { headers: { Metadata: "true" } });
  const vm = await arm(`${String(compute.body.resourceId)}?${COMPUTE_API}`);
  if (vm.status !== 200) throw new Error(`GET VM: HTTP ${vm.status} ${JSON.stringify(vm.body)}`);
  const nics = (vm.body.properties as { networkProfile: { networkInterfaces: { id: string }[] } }).networkProfile.networkInterfaces;
  if (!Number.isInteger(index) || !nics[index]) throw new Error(`the VM has no NIC ${process.env.ARM_CLIENT_NIC} (it has ${nics.length})`);
  return `${nics[index].id}?${NETWORK_API}`;
}

function summary(r: Result): Record<string, unknown> {
  const error = r.body.error as { code?: string } | string | undefined;
  return {
    status: r.status,
    ...(error !== undefined ? { code: typeof error === "string" ? error : error.code } : {}),
    ...(typeof r.body.error_description === "string" ? { description: r.body.error_description } : {}),
    ...(r.headers.get("retry-after") ? { retryAfter: r.headers.get("retry-after") } : {}),
    ...(r.headers.get("azure-asyncoperation") ? { operation: r.headers.get("azure-asyncoperation") } : {}),
    ...(typeof r.body.etag === "string" ? { etag: r.body.etag } : {}),
  };
}

async function main(): Promise<Record<string, unknown>> {
  const [command, ...args] = process.argv.slice(2);
  switch (command) {
    case "token":
      return summary(await token());
    case "get-nic":
      return summary(await arm(await nicPath()));
    case "add": {
      const [name, address, ifMatch] = args;
      const path = await nicPath();
      const nic = await arm(path);
      if (nic.status !== 200) return summary(nic);
      const props = nic.body.properties as { ipConfigurations: { properties: { primary: boolean; subnet: { id: string } } }[] };
      const subnet = props.ipConfigurations.find((c) => c.properties.primary)?.properties.subnet;
      props.ipConfigurations.push({
        name,
        properties: { primary: false, privateIPAddress: address, privateIPAllocationMethod: "Static", subnet } as never,
      } as never);
      return summary(
        await arm(path, {
          method: "PUT",
          body: JSON.stringify(nic.body),
          headers: { "Content-Type": "application/json", "If-Match": ifMatch ?? String(nic.body.etag) },
        }),
      );
    }
    case "wait": {
      for (;;) {
        const op = await arm(args[0]);
        if (op.status !== 200 || op.body.status !== "InProgress")
          return { ...summary(op), operationStatus: op.body.status, error: op.body.error };
        await new Promise((r) => setTimeout(r, 1000 * Number(op.headers.get("retry-after") ?? "1")));
      }
    }
    default:
      throw new Error(`unknown command ${command}; see the header of this file`);
  }
}

main().then(
  (out) => process.stdout.write(`${JSON.stringify(out)}\n`),
  (err: unknown) => {
    process.stderr.write(`arm-client: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
