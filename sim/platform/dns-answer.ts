/**
 * What the platform DNS (168.63.129.16:53) answers, as a pure function from
 * topology and query bytes to reply bytes. It knows only the VMs and the
 * topology's internet names; everything else is NXDOMAIN, so tests can tell a
 * working resolver path from a broken one.
 */
import * as dnsPacket from "dns-packet";
import type { Topology } from "../topology";
import { ARM_HOST, ARM_IP } from "../names";

/** Azure's internal DNS suffix for VM names. */
export const INTERNAL_SUFFIX = "internal.cloudapp.net";
const TTL = 10;

const RCODE_NOERROR = 0;
const RCODE_FORMERR = 1;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;

/** Lower-case name without trailing dot -> IPv4 address. */
export function dnsNameTable(topology: Topology): Map<string, string> {
  const table = new Map<string, string>();
  for (const [name, address] of Object.entries(topology.internet.names)) table.set(canonicalName(name), address);
  table.set(canonicalName(topology.registry.name), topology.registry.hostAddress);
  table.set(ARM_HOST, ARM_IP);
  for (const vm of topology.vms) {
    table.set(vm.name, vm.nic.primary.address);
    table.set(`${vm.name}.${INTERNAL_SUFFIX}`, vm.nic.primary.address);
  }
  return table;
}

function canonicalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

export interface DnsOutcome {
  /** Reply to send, or undefined when the packet deserves no answer. */
  reply?: Buffer;
  /** Short description for the request log, e.g. "A vm1 NOERROR". */
  summary: string;
}

/** Reply flags: echo the client's RD bit, claim recursion like Azure's resolver does. */
function replyFlags(queryFlags: number, rcode: number): number {
  return (queryFlags & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | rcode;
}

/** Header-only error reply; usable even when the rest of the packet cannot be parsed. */
function errorReply(query: Buffer, rcode: number): Buffer {
  const id = query.length >= 2 ? query.readUInt16BE(0) : 0;
  const flags = query.length >= 4 ? query.readUInt16BE(2) : 0;
  return dnsPacket.encode({ type: "response", id, flags: replyFlags(flags, rcode) });
}

export function answerDnsQuery(names: Map<string, string>, query: Buffer, opts: { servfail?: boolean } = {}): DnsOutcome {
  // A packet too short for a header has no id to answer to.
  if (query.length < 12) return { summary: `short packet (${query.length} bytes) ignored` };
  let decoded: dnsPacket.DecodedPacket;
  try {
    decoded = dnsPacket.decode(query);
  } catch {
    return { reply: errorReply(query, RCODE_FORMERR), summary: "undecodable FORMERR" };
  }
  // Never answer responses: two servers could otherwise bounce packets forever.
  if (decoded.type === "response") return { summary: "response packet ignored" };
  const questions = decoded.questions ?? [];
  if (questions.length !== 1) return { reply: errorReply(query, RCODE_FORMERR), summary: `${questions.length} questions FORMERR` };
  const q = questions[0];
  const label = `${q.type} ${q.name}`;
  if (opts.servfail) return { reply: errorReply(query, RCODE_SERVFAIL), summary: `${label} SERVFAIL (knob)` };

  try {
    return answerQuestion(names, decoded, q);
  } catch {
    // dns-packet decodes some garbage into questions it cannot encode back.
    return { reply: errorReply(query, RCODE_FORMERR), summary: `${label} FORMERR` };
  }
}

function answerQuestion(names: Map<string, string>, decoded: dnsPacket.DecodedPacket, q: dnsPacket.Question): DnsOutcome {
  const label = `${q.type} ${q.name}`;
  const address = names.get(canonicalName(q.name));
  const rcode = address === undefined ? RCODE_NXDOMAIN : RCODE_NOERROR;
  // Only A records exist; other types for a known name get an empty NOERROR, as a real zone would.
  const answers: dnsPacket.Answer[] =
    address !== undefined && q.type === "A" && (q.class ?? "IN") === "IN"
      ? [{ type: "A", class: "IN", name: q.name, ttl: TTL, data: address }]
      : [];
  const reply = dnsPacket.encode({
    type: "response",
    id: decoded.id,
    flags: replyFlags(decoded.flags ?? 0, rcode),
    questions: [q],
    answers,
  });
  return { reply, summary: `${label} ${rcode === RCODE_NXDOMAIN ? "NXDOMAIN" : "NOERROR"} ${answers.length} answer(s)` };
}
