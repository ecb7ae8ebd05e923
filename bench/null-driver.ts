/**
 * The least a remote network driver can do for Docker: answer both plugin
 * protocols over a unix socket, hand out addresses from a counter, make the
 * veth pair Docker moves into the container (with the plugin's own netlink
 * module) and delete it after answering DeleteEndpoint (in a lull between
 * requests, as the plugin's dataplane does it), and keep Docker from
 * adding its gateway bridge (as a driver that routes does). No validation, state,
 * locking, guard, route or firewall. `docker run` on its network against
 * Docker's built-in bridge is what Docker's remote-driver path itself costs;
 * the plugin is set against it to see what is its own.
 *
 * Usage: node null-driver.js SOCKET   (run inside a VM; its name is the socket's)
 */
import { createServer } from "node:http";
import { rmSync } from "node:fs";
import { LinuxDataplane } from "../driver/dataplane";
import { IdleGate } from "../driver/lib/idle-gate";
import { addressAfter } from "./topology";

const MTU = 1500;
const socket = process.argv[2];
if (!socket) throw new Error("usage: null-driver.js SOCKET");

const idle = new IdleGate();
const dp = new LinuxDataplane({ idle });
let nextLink = 0;
let nextAddress = 0;
const hostEnds = new Map<string, string>();

type Body = Record<string, unknown> & { Pool?: string; Options?: Record<string, string>; EndpointID?: string };

/** The answer to one call; `after` runs once the answer is sent. */
async function answer(path: string, body: Body): Promise<{ reply: unknown; after?: () => Promise<unknown> }> {
  switch (path) {
    case "/Plugin.Activate":
      return { reply: { Implements: ["NetworkDriver", "IpamDriver"] } };
    case "/NetworkDriver.GetCapabilities":
      return { reply: { Scope: "local", ConnectivityScope: "local" } };
    case "/IpamDriver.GetDefaultAddressSpaces":
      return { reply: { LocalDefaultAddressSpace: "null", GlobalDefaultAddressSpace: "null" } };
    case "/IpamDriver.RequestPool":
      return { reply: { PoolID: body.Pool, Pool: body.Pool, Data: {} } };
    case "/IpamDriver.RequestAddress": {
      const pool = String(body.PoolID);
      const [base, prefix] = pool.split("/");
      const gateway = body.Options?.RequestAddressType === "com.docker.network.gateway";
      const address = addressAfter(base, gateway ? 1 : 2 + (nextAddress++ % 250));
      return { reply: { Address: `${address}/${prefix}`, Data: {} } };
    }
    case "/NetworkDriver.Join": {
      const n = nextLink++;
      const hostName = `azbnh${n}`;
      const peerName = `azbnc${n}`;
      await dp.createEndpointLink({ hostName, peerName, mtu: MTU });
      hostEnds.set(String(body.EndpointID), hostName);
      // Without a gateway Docker would also plug the container into docker_gwbridge (a second
      // endpoint of its own bridge driver): work no network driver that routes asks for.
      return { reply: { InterfaceName: { SrcName: peerName, DstPrefix: "eth" }, DisableGatewayService: true } };
    }
    case "/NetworkDriver.DeleteEndpoint": {
      const hostName = hostEnds.get(String(body.EndpointID));
      hostEnds.delete(String(body.EndpointID));
      return { reply: {}, after: hostName ? () => dp.removeEndpointLink(hostName) : undefined };
    }
    case "/NetworkDriver.EndpointOperInfo":
      return { reply: { Value: {} } };
    default:
      return { reply: {} };
  }
}

rmSync(socket, { force: true });
const server = createServer((req, res) => {
  idle.enter();
  res.once("close", () => idle.leave());
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const text = Buffer.concat(chunks).toString("utf8");
    const body = (text ? JSON.parse(text) : {}) as Body;
    answer(req.url ?? "", body).then(
      ({ reply, after }) => {
        res.setHeader("Content-Type", "application/vnd.docker.plugins.v1.2+json");
        res.end(JSON.stringify(reply));
        after?.().catch((err: Error) => process.stderr.write(`null-driver: ${err.message}\n`));
      },
      (err: Error) => {
        res.statusCode = 500;
        res.end(JSON.stringify({ Err: err.message }));
      },
    );
  });
});
server.listen(socket);
process.on("SIGTERM", () => server.close(() => void dp.close().then(() => process.exit(0))));
