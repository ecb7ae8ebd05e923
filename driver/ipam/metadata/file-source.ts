/** Owns the "file" metadata source: the NICs read from a JSON file in the wireserver's shape. */
import { readFile } from "../../lib/fs-async";
import * as v from "valibot";
import { addressText, booleanish, cidrText, macText, wireserverStyleToNics } from "./interfaces-document";
import type { MetadataSource, NicInfo } from "./types";
import { object } from "../../lib/valid";
import { MetadataSourceError, validate } from "./source-error";

/** The wireserver's shape as JSON, as the earlier Microsoft plugin read it (Azure Stack, tests). */
const fileSchema = object({
  Interfaces: v.array(
    object({
      MacAddress: macText,
      IsPrimary: booleanish,
      IPSubnets: v.array(
        object({
          Prefix: cidrText,
          IPAddresses: v.array(object({ Address: addressText, IsPrimary: booleanish })),
        }),
      ),
    }),
  ),
});

/** NIC data from a JSON file, for hosts without IMDS or the wireserver. */
export class FileSource implements MetadataSource {
  readonly name: string;

  constructor(readonly path: string) {
    this.name = `file:${path}`;
  }

  async fetch(): Promise<NicInfo[]> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      throw new MetadataSourceError(this.name, `cannot read the file: ${(err as Error).message}`);
    }
    return parseInterfacesJson(text, this.name);
  }
}

export function parseInterfacesJson(text: string, source: string): NicInfo[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MetadataSourceError(source, `not valid JSON: ${(err as Error).message}`);
  }
  const data = validate(source, fileSchema, json);
  const nics = data.Interfaces.map((n) => ({ ...n, subnets: n.IPSubnets.map((s) => ({ Prefix: s.Prefix, addresses: s.IPAddresses })) }));
  return wireserverStyleToNics(nics, source);
}
