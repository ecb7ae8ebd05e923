/**
 * Wireserver (168.63.129.16:80) handling: the NMAgent interface list the
 * Microsoft plugin read, and the versions document used as a health check.
 * Port 32526 gets a trivial answer; it exists so tests can check containers
 * cannot reach it.
 */
import type { Topology } from "../topology";
import type { HttpAnswer, HttpRoute } from "./http-pipeline";
import { vmBySourceAddress } from "./identify";
import { versionsXml, wireserverXml } from "./wireserver-xml";

export function textError(status: number, message: string): HttpAnswer {
  return { status, contentType: "text/plain; charset=utf-8", body: `${message}\n` };
}

function xml(body: string): HttpAnswer {
  return { status: 200, contentType: "text/xml; charset=utf-8", body };
}

export function wireserverRoute(topology: () => Topology): HttpRoute {
  return (req, url, source) => {
    if (req.method !== "GET") return textError(405, "Method not allowed");
    const comp = url.searchParams.get("comp");
    if (url.pathname === "/" && comp === "versions") return xml(versionsXml());
    if (url.pathname !== "/machine/plugins") return textError(404, "Not found");
    if (comp !== "nmagent" || url.searchParams.get("type") !== "getinterfaceinfov1") return textError(400, "Unsupported plugin request");
    const topo = topology();
    const vm = vmBySourceAddress(topo, source);
    if (!vm) return textError(403, `Source address ${source} is not an ipconfig of any VM`);
    return xml(wireserverXml(topo, vm.name));
  };
}

export const wireserverAltRoute: HttpRoute = () => ({ status: 200, contentType: "text/plain; charset=utf-8", body: "ok\n" });
