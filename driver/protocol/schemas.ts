/**
 * Owns the schemas for every request body Docker sends to the plugin.
 *
 * They check shape and syntax only (IDs, CIDRs, IPs, MACs, paths), never
 * whether a network or pool exists: that is the drivers' business. Unknown
 * fields are dropped rather than rejected because Docker adds fields across
 * versions. Null or missing maps and lists become empty ones, because Go
 * encodes a nil map or slice as null and older engines omit some fields.
 */
import { Address6 } from "ip-address";
import * as v from "valibot";
import { parseCidrAsWritten, parseIpv4 } from "../lib/address";
import { hasUnsafeChars } from "../lib/text";
import { ENDPOINT_ID_RULE, NETWORK_ID_RULE, isEndpointId, networkIdForm } from "../lib/docker-id";
import { object, record } from "../lib/valid";
import { describeValue } from "./display";
import type { IPAMData } from "./types";

/** Longest string accepted in any field; real values are far shorter. */
export const MAX_FIELD_LENGTH = 4096;

/** Returns what is wrong with a string ("must be ..."), or undefined if it is fine. */
type StringCheck = (s: string) => string | undefined;

/**
 * A string field that is never over-long and never contains control
 * characters, plus an optional syntax check. Each problem becomes one issue
 * whose message quotes a cleaned, shortened copy of the bad value.
 */
function text(check?: StringCheck) {
  const problem = (s: string): string | undefined => {
    if (s.length > MAX_FIELD_LENGTH) return `must be at most ${MAX_FIELD_LENGTH} characters (got ${s.length})`;
    const found = hasUnsafeChars(s) ? "must not contain control characters or line breaks" : check?.(s);
    return found && `${found} (got ${describeValue(s)})`;
  };
  return v.pipe(
    v.string(),
    v.check(
      (s) => problem(s) === undefined,
      (issue) => problem(issue.input) ?? "",
    ),
  );
}

/** The same check, but "" is also accepted (Docker's way of saying "unset"). */
function emptyOr(check: StringCheck): StringCheck {
  return (s) => {
    if (s === "") return undefined;
    const problem = check(s);
    return problem && `must be empty or ${problem.replace(/^must be /, "")}`;
  };
}

function matches(re: RegExp, expectation: string): StringCheck {
  return (s) => (re.test(s) ? undefined : expectation);
}

// ---- addresses ----------------------------------------------------------

type Family = 4 | 6;
const ADDRESS_CHARS: Record<Family, RegExp> = { 4: /^[0-9.]+$/, 6: /^[0-9a-fA-F:.]+$/ };
// No leading zeros: "/024" would be read differently by different parsers.
const PREFIX_LENGTH = /^(0|[1-9][0-9]{0,2})$/;

/**
 * True if `s` is an address of `family`, with a prefix length exactly when
 * `withPrefix`. The character pre-check keeps out forms ip-address accepts
 * but Docker and the kernel don't, such as IPv6 zone IDs ("fe80::1%eth0").
 */
function isAddress(s: string, family: Family, form: { withPrefix: boolean }): boolean {
  const { withPrefix } = form;
  const parts = s.split("/");
  if (parts.length !== (withPrefix ? 2 : 1)) return false;
  if (!ADDRESS_CHARS[family].test(parts[0])) return false;
  if (withPrefix && !PREFIX_LENGTH.test(parts[1])) return false;
  if (family === 6) return Address6.isValid(s);
  return (withPrefix ? parseCidrAsWritten(s) : parseIpv4(s)) !== undefined;
}

const EXAMPLE: Record<Family, { ip: string; cidr: string; name: string }> = {
  4: { ip: "10.1.0.7", cidr: "10.1.0.0/24", name: "IPv4" },
  6: { ip: "fd00::7", cidr: "fd00::/64", name: "IPv6" },
};

function cidrCheck(families: Family[]): StringCheck {
  return (s) => {
    if (families.some((f) => isAddress(s, f, { withPrefix: true }))) return undefined;
    const names = families.map((f) => EXAMPLE[f].name).join(" or ");
    const examples = families.map((f) => EXAMPLE[f].cidr).join(" or ");
    return `must be an ${names} CIDR such as ${examples}`;
  };
}

function ipCheck(families: Family[]): StringCheck {
  return (s) => {
    if (families.some((f) => isAddress(s, f, { withPrefix: false }))) return undefined;
    const names = families.map((f) => EXAMPLE[f].name).join(" or ");
    const examples = families.map((f) => EXAMPLE[f].ip).join(" or ");
    return `must be an ${names} address without prefix length, such as ${examples}`;
  };
}

/** Which family a CIDR belongs to; undefined if it is not one (already reported elsewhere). */
function cidrFamily(s: string): Family | undefined {
  if (isAddress(s, 4, { withPrefix: true })) return 4;
  return isAddress(s, 6, { withPrefix: true }) ? 6 : undefined;
}

// ---- field types ----------------------------------------------------------

const networkId = text((s) => (networkIdForm(s) ? undefined : NETWORK_ID_RULE));
const endpointId = text((s) => (isEndpointId(s) ? undefined : ENDPOINT_ID_RULE));

// PoolIDs and address-space names are made up by our own IPAM; this keeps
// them to characters that are harmless in logs, file names and shells.
const token = text(matches(/^[A-Za-z0-9._~:/@+,=%-]+$/, "must be a non-empty name of letters, digits and . _ ~ : / @ + , = % -"));
const optionalToken = text(emptyOr(matches(/^[A-Za-z0-9._~:/@+,=%-]+$/, "must be a name of letters, digits and . _ ~ : / @ + , = % -")));

const macAddress = text(
  emptyOr(matches(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, "must be a MAC address in colon form such as 02:42:0a:01:00:07")),
);

const sandboxKey = text(
  emptyOr(matches(/^\/[A-Za-z0-9._/@:+,=-]*$/, "must be an absolute path without spaces, quotes or shell metacharacters")),
);

/** A string field Docker may leave out; missing means "". */
function defaultEmpty(schema: v.GenericSchema<string>) {
  return v.optional(schema, "");
}

/** A map that may be null or missing; both become {}. */
function optionMap<V extends v.GenericSchema>(value: V) {
  return v.nullish(record(text(), value), () => ({}));
}

/** Driver options: values are whatever JSON Docker put there (bools, lists, maps). */
const driverOptions = optionMap(v.unknown());
/** IPAM and swarm options: Go map[string]string. */
const stringOptions = optionMap(text());

function ipamData(family: Family) {
  const cidr = text(cidrCheck([family]));
  return v.pipe(
    object({
      AddressSpace: defaultEmpty(optionalToken),
      Pool: cidr,
      Gateway: v.nullish(text(emptyOr(cidrCheck([family])))),
      AuxAddresses: v.nullish(record(text(), cidr)),
    }),
    v.transform(({ Gateway, AuxAddresses, ...rest }): IPAMData => {
      // Docker omits Gateway when none was reserved and AuxAddresses when
      // there are none; "" and null are read the same way, and the keys are
      // left out so drivers see one shape only.
      const data: IPAMData = { ...rest };
      if (Gateway) data.Gateway = Gateway;
      if (AuxAddresses) data.AuxAddresses = AuxAddresses;
      return data;
    }),
  );
}

function ipamDataList(family: Family) {
  return v.nullish(v.array(ipamData(family)), () => []);
}

// ---- request bodies ---------------------------------------------------------

/** Calls that carry no arguments (Docker sends an empty body). */
export const emptyRequest = object({});

export const networkRequest = object({ NetworkID: networkId });

export const createNetworkRequest = object({
  NetworkID: networkId,
  Options: driverOptions,
  IPv4Data: ipamDataList(4),
  IPv6Data: ipamDataList(6),
});

export const endpointRequest = object({ NetworkID: networkId, EndpointID: endpointId });

const endpointInterface = object({
  Address: defaultEmpty(text(emptyOr(cidrCheck([4])))),
  AddressIPv6: defaultEmpty(text(emptyOr(cidrCheck([6])))),
  MacAddress: defaultEmpty(macAddress),
});

export const createEndpointRequest = object({
  NetworkID: networkId,
  EndpointID: endpointId,
  Interface: v.nullish(endpointInterface, () => ({ Address: "", AddressIPv6: "", MacAddress: "" })),
  Options: driverOptions,
});

export const joinRequest = object({
  NetworkID: networkId,
  EndpointID: endpointId,
  SandboxKey: defaultEmpty(sandboxKey),
  Options: driverOptions,
});

export const programExternalConnectivityRequest = object({
  NetworkID: networkId,
  EndpointID: endpointId,
  Options: driverOptions,
});

export const allocateNetworkRequest = object({
  NetworkID: networkId,
  Options: stringOptions,
  IPv4Data: ipamDataList(4),
  IPv6Data: ipamDataList(6),
});

export const discoverRequest = object({
  DiscoveryType: v.pipe(v.number(), v.integer()),
  DiscoveryData: v.unknown(),
});

export const requestPoolRequest = v.pipe(
  object({
    AddressSpace: defaultEmpty(optionalToken),
    Pool: defaultEmpty(text(emptyOr(cidrCheck([4, 6])))),
    SubPool: defaultEmpty(text(emptyOr(cidrCheck([4, 6])))),
    Options: stringOptions,
    V6: v.optional(v.boolean(), () => false),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const req = dataset.value;
    // Docker sends one request per family; a mismatch means a confused caller.
    const family: Family = req.V6 ? 6 : 4;
    for (const field of ["Pool", "SubPool"] as const) {
      const actual = req[field] === "" ? undefined : cidrFamily(req[field]);
      if (actual !== undefined && actual !== family) {
        addIssue({
          path: [fieldPath(req, field)],
          message: `must be an IPv${family} CIDR because V6 is ${req.V6} (got ${describeValue(req[field])})`,
        });
      }
    }
    if (req.Pool === "" && req.SubPool !== "") {
      addIssue({ path: [fieldPath(req, "SubPool")], message: "needs Pool (an --ip-range needs a --subnet)" });
    }
  }),
);

/** The path item of a field of an already validated request, for an issue about that field. */
function fieldPath<T extends Record<string, unknown>>(req: T, key: keyof T & string): v.ObjectPathItem {
  return { type: "object", origin: "value", input: req, key, value: req[key] };
}

export const releasePoolRequest = object({ PoolID: token });

export const requestAddressRequest = object({
  PoolID: token,
  Address: defaultEmpty(text(emptyOr(ipCheck([4, 6])))),
  Options: stringOptions,
});

export const releaseAddressRequest = object({
  PoolID: token,
  Address: text(ipCheck([4, 6])),
});
