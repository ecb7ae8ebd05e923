/** Owns the "wireserver" metadata source: the NICs from the wireserver's NMAgent XML. */
import type { XMLParser, XMLValidator } from "fast-xml-parser";
import * as v from "valibot";
import { describeHttpFailure, httpGet } from "./http-get";
import { addressText, booleanish, cidrText, macText, wireserverStyleToNics } from "./interfaces-document";
import type { MetadataSource, NicInfo } from "./types";
import { object } from "../../lib/valid";
import { MetadataSourceError, validate } from "./source-error";

export const WIRESERVER_BASE_URL = "http://168.63.129.16";
const WIRESERVER_PATH = "/machine/plugins?comp=nmagent&type=getinterfaceinfov1";

export interface WireserverSourceOptions {
  /** Tests point this at a loopback server. */
  baseUrl?: string;
  timeoutMs?: number;
}

// An element with no children parses as "" rather than an object.
function elementObject<const E extends v.ObjectEntries>(entries: E) {
  return v.pipe(
    v.unknown(),
    v.transform((value: unknown) => (value === "" ? {} : value)),
    object(entries),
  );
}

const xmlSchema = object({
  Interfaces: elementObject({
    Interface: v.optional(
      v.array(
        object({
          MacAddress: macText,
          IsPrimary: booleanish,
          IPSubnet: v.optional(
            v.array(
              elementObject({
                Prefix: cidrText,
                IPAddress: v.optional(v.array(object({ Address: addressText, IsPrimary: booleanish })), () => []),
              }),
            ),
            () => [],
          ),
        }),
      ),
      () => [],
    ),
  }),
});

let xml: { parser: XMLParser; validator: typeof XMLValidator } | undefined;

/** The XML parser, loaded on first use: a daemon reading IMDS or a file never needs it. */
function xmlParsing(): { parser: XMLParser; validator: typeof XMLValidator } {
  if (xml) return xml;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fxp = require("fast-xml-parser") as typeof import("fast-xml-parser");
  const parser = new fxp.XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "",
    parseAttributeValue: false,
    // Repeated elements must always be arrays, even when only one is present.
    isArray: (name) => name === "Interface" || name === "IPSubnet" || name === "IPAddress",
  });
  return (xml = { parser, validator: fxp.XMLValidator });
}

/** NMAgent's interface list, which the wireserver serves to every VM. */
export class WireserverSource implements MetadataSource {
  readonly name = "wireserver";
  readonly url: string;
  private readonly timeoutMs: number;

  constructor(options: WireserverSourceOptions = {}) {
    this.url = (options.baseUrl ?? WIRESERVER_BASE_URL).replace(/\/+$/, "") + WIRESERVER_PATH;
    this.timeoutMs = options.timeoutMs ?? 3000;
  }

  async fetch(): Promise<NicInfo[]> {
    let result;
    try {
      result = await httpGet(this.url, { timeoutMs: this.timeoutMs });
    } catch (err) {
      throw new MetadataSourceError(this.name, `GET ${this.url} failed: ${(err as Error).message}`);
    }
    if (result.status !== 200) throw new MetadataSourceError(this.name, describeHttpFailure(result));
    return parseWireserverInterfaces(result.body, this.name);
  }
}

export function parseWireserverInterfaces(body: string, source = "wireserver"): NicInfo[] {
  const { parser, validator } = xmlParsing();
  // The parser is lenient about broken markup; the validator is not.
  const check = validator.validate(body);
  if (check !== true) {
    throw new MetadataSourceError(source, `response is not valid XML: ${check.err.msg} (line ${check.err.line})`);
  }
  const data = validate(source, xmlSchema, parser.parse(body));
  const nics = data.Interfaces.Interface.map((n) => ({
    ...n,
    subnets: n.IPSubnet.map((s) => ({ Prefix: s.Prefix, addresses: s.IPAddress })),
  }));
  return wireserverStyleToNics(nics, source);
}
