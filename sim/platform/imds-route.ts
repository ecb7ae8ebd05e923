/**
 * IMDS request handling: the checks Azure's IMDS makes before answering
 * (Metadata header, no proxy header, api-version) and the walk from
 * /metadata/instance/... into the instance document.
 */
import type { Topology } from "../topology";
import type { HttpAnswer, HttpRoute } from "./http-pipeline";
import { vmBySourceAddress } from "./identify";
import { imdsInstanceDocument } from "./imds-documents";
import { identityToken } from "./imds-identity";
import type { TokenIssuer } from "./arm-token";
import type { VmKnobs } from "./knobs";

/** Versions listed in the error body, as Azure lists its newest ones. */
const NEWEST_VERSIONS = ["2023-07-01", "2023-03-01", "2021-02-01"];
const API_VERSION = /^\d{4}-\d{2}-\d{2}$/;

export function imdsError(status: number, message: string, extra: Record<string, unknown> = {}): HttpAnswer {
  return { status, contentType: "application/json; charset=utf-8", body: JSON.stringify({ error: message, ...extra }) };
}

function json(value: unknown): HttpAnswer {
  return { status: 200, contentType: "application/json; charset=utf-8", body: JSON.stringify(value) };
}

/** Follow path segments (object keys, array indexes) into the document; undefined when absent. */
function walk(doc: unknown, segments: string[]): unknown {
  let node = doc;
  for (const segment of segments) {
    if (Array.isArray(node) && /^\d+$/.test(segment)) node = node[Number(segment)];
    else if (node !== null && typeof node === "object" && !Array.isArray(node) && Object.hasOwn(node, segment))
      node = (node as Record<string, unknown>)[segment];
    else return undefined;
  }
  return node;
}

/** Managed identity: absent in unit tests of the instance metadata alone. */
export interface IdentityOptions {
  tokens: TokenIssuer;
  vmKnobs: (vm: string) => VmKnobs;
}

export function imdsRoute(topology: () => Topology, identity?: IdentityOptions): HttpRoute {
  return (req, url, source) => {
    if (req.method !== "GET") return imdsError(405, "Http method not allowed");
    if (req.headers["x-forwarded-for"] !== undefined)
      return imdsError(400, "Bad request. Request contains X-Forwarded-For header; IMDS must not be reached through a proxy");
    if (String(req.headers["metadata"]).toLowerCase() !== "true")
      return imdsError(400, "Bad request. Required metadata header not specified");
    const segments = url.pathname.split("/").filter((s) => s !== "");
    const isToken = url.pathname.replace(/\/+$/, "") === "/metadata/identity/oauth2/token";
    if (segments[0] !== "metadata" || (segments[1] !== "instance" && !isToken)) return imdsError(404, "Not found");
    const apiVersion = url.searchParams.get("api-version");
    if (apiVersion === null) {
      return imdsError(400, "Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds", {
        "newest-versions": NEWEST_VERSIONS,
      });
    }
    if (!API_VERSION.test(apiVersion)) return imdsError(400, "Bad request. api-version is invalid", { "newest-versions": NEWEST_VERSIONS });

    const topo = topology();
    const vm = vmBySourceAddress(topo, source);
    if (!vm) return imdsError(403, `Forbidden. Source address ${source} is not an ipconfig of any VM`);
    if (isToken) {
      if (!identity) return imdsError(404, "Not found");
      return identityToken(url, vm, identity.vmKnobs(vm.name), identity.tokens);
    }

    const node = walk(imdsInstanceDocument(topo, vm.name), segments.slice(2));
    if (node === undefined) return imdsError(404, "Not found");
    const format = url.searchParams.get("format") ?? "json";
    const leaf = node === null || typeof node !== "object";
    if (format === "text") {
      if (!leaf) return imdsError(400, "Bad request. format=text is only supported for leaf nodes");
      return { status: 200, contentType: "text/plain; charset=utf-8", body: String(node) };
    }
    if (format !== "json") return imdsError(400, `Bad request. Unsupported format ${format}`);
    return json(node);
  };
}
