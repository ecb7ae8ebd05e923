/**
 * The kernel worker thread's side of offload.ts: its own netlink sockets in
 * the daemon's network namespace, one call at a time per socket (their
 * queues see to that). Started by KernelOffload as a worker; loaded any
 * other way it does nothing.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { forgetFlows } from "./conntrack";
import { LinkOps } from "./links";
import { Rtnl } from "./netlink";
import { Nfnl } from "./nfnetlink";
import { type Call, type Reply, ROLE, toWire } from "./offload";

function serve(): void {
  const port = parentPort;
  if (!port) return;
  const { timeoutMs } = workerData as { timeoutMs?: number };
  const rtnl = new Rtnl({ timeoutMs });
  const links = new LinkOps(rtnl);
  const nfnl = new Nfnl({ timeoutMs });
  port.on("message", (call: Call | "stop") => {
    if (call === "stop") {
      // The sockets are closed here, then the thread ends on its own: the
      // netlink add-on aborts the process if a thread is torn down with one open.
      void rtnl.close().finally(() => {
        nfnl.close();
        port.close();
      });
      return;
    }
    const work = call.op === "removeEndpointLink" ? links.removeEndpointLink(call.arg) : forgetFlows(call.arg, { nfnl });
    work.then(
      (result) => port.postMessage({ id: call.id, result } satisfies Reply),
      (err: unknown) => port.postMessage({ id: call.id, error: toWire(err) } satisfies Reply),
    );
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) serve();
