/**
 * The hostile material the fuzzers draw from: strings aimed at shells,
 * iptables-restore input, logs and object prototypes, values of the wrong
 * JSON type, and bodies that are not JSON at all.
 */
import { Rng } from "./fuzz-rng";

/**
 * Option values that would become extra firewall rules or commands if a value
 * were ever pasted into iptables-restore input or a shell line. Every one must
 * be rejected as a network option value.
 */
export const FIREWALL_PAYLOADS: readonly string[] = [
  "10.0.0.0/8\n-A INPUT -j ACCEPT",
  "10.0.0.0/8\r\n*filter\n-A FORWARD -j ACCEPT\nCOMMIT",
  "10.0.0.0/8 -j ACCEPT",
  "10.0.0.0/8,0.0.0.0/0 ! -d 1.2.3.4",
  "10.0.0.0/8;iptables -F",
  "10.0.0.0/8 && iptables -P FORWARD ACCEPT",
  "10.0.0.0/8`reboot`",
  "$(reboot)",
  "`reboot`",
  "true; reboot",
  "true\n",
  "true && reboot",
  "false || iptables -F",
  "${IFS}reboot",
  "'; DROP TABLE x; --",
  '"',
  "-j ACCEPT",
  "--append INPUT --jump ACCEPT",
  "10.0.0.0/8\u0000-A INPUT -j ACCEPT",
  "10.0.0.0∕8",
  "１０.0.0.0/8",
  "10.0.0.0/8\u2028-A INPUT -j ACCEPT",
  "10.0.0.0/33",
  "10.0.0.256/8",
  "0x0a.0.0.0/8",
  "010.0.0.0/8",
  "10.0.0.0/8/8",
  "bridge\n-A INPUT -j ACCEPT",
  "bridge; reboot",
  "TRUE",
  "yes",
  "1",
];

/** Strings for any string field: none is a valid ID, address, CIDR or option value. */
export const HOSTILE_STRINGS: readonly string[] = [
  ...FIREWALL_PAYLOADS,
  "../../../../etc/passwd",
  "/etc/shadow",
  "%00",
  "\u0000",
  "\u001b[2J\u001b[31mred",
  "line1\nline2",
  "\r",
  "\t",
  "\u202eevil\u202c",
  "\ud800",
  "\udfff\ud800",
  "🐳🐳🐳",
  "Ω≈ç√∫",
  "ﷺ",
  "null",
  "undefined",
  "NaN",
  "[object Object]",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "{{.ID}}",
  "%s%s%s%n",
  "<script>alert(1)</script>",
  " ",
  "a".repeat(4096),
  "a".repeat(4097),
  "é".repeat(3000),
];

/** Keys for option maps: prototype names, injections, and Docker-looking prefixes that are not Docker's. */
export const HOSTILE_KEYS: readonly string[] = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "snat ",
  "SNAT",
  "snat\n",
  "non-masquerade-cidrs\n-A INPUT -j ACCEPT",
  "$(reboot)",
  "com.docker\n.x",
  "x;reboot",
  "",
  "🐳",
  "b".repeat(4096),
  "a".repeat(5000),
];

/** A valid-looking but unknown Docker ID. */
export function randomId(rng: Rng): string {
  return rng.hex(64);
}

export function randomMac(rng: Rng): string {
  return Array.from({ length: 6 }, (_, i) => (i === 0 ? "02" : rng.hex(2))).join(":");
}

/** A value of some JSON type, or an odd one, for a field that expects something else. */
export function wrongTypeValue(rng: Rng): unknown {
  return rng.weighted<() => unknown>([
    [3, () => null],
    [3, () => rng.int(2) === 0],
    [3, () => rng.pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, 65536, 4294967296])],
    [3, () => []],
    [2, () => [rng.pick(HOSTILE_STRINGS)]],
    [3, () => ({})],
    [2, () => ({ [rng.pick(HOSTILE_KEYS)]: rng.pick(HOSTILE_STRINGS) })],
    [3, () => rng.pick(HOSTILE_STRINGS)],
    // Deeper nesting is sent as text (fuzz-cases), where JSON.stringify cannot run out of stack first.
    [1, () => deepValue(rng.between(50, 1000))],
    [1, () => "x".repeat(rng.pick([5000, 100_000]))],
  ])();
}

/** [[[...]]] or {"a":{"a":...}} nested `depth` levels. */
export function deepValue(depth: number): unknown {
  let v: unknown = 1;
  const asArray = depth % 2 === 0;
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { a: v };
  return v;
}

/** Deep nesting as text, deeper than the engine would nest objects for us. */
export function deepJsonText(depth: number, closed: boolean): string {
  return "[".repeat(depth) + (closed ? "]".repeat(depth) : "");
}

/** Text that JSON.parse rejects, made from a real body so most of it still looks right. */
export function corruptJson(rng: Rng, text: string): Buffer {
  for (let attempt = 0; ; attempt++) {
    const out = rng.weighted<() => Buffer>([
      [4, () => Buffer.from(text.slice(0, rng.int(Math.max(1, text.length - 1))))],
      [2, () => Buffer.from(text.replace(/"/g, "'"))],
      [2, () => Buffer.from(text.replace(/}\s*$/, ",}"))],
      [2, () => Buffer.from(`${text}${rng.pick(["}", "]", "x", "{", ",", "\u0000", "garbage"])}`)],
      [1, () => Buffer.from(`/* c */${text}`)],
      [1, () => Buffer.from(text.replace(/:/, "::"))],
      [1, () => Buffer.from(text.replace(/"([A-Za-z]+)":/, "$1:"))],
      [1, () => Buffer.from(text.replace(/(\d+)/, "NaN"))],
      [2, () => spliceBytes(rng, Buffer.from(text))],
      [1, () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text)])],
      [1, () => Buffer.concat([Buffer.from(text.slice(0, 5)), Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), Buffer.from(text.slice(5))])],
      [1, () => rng.bytes(rng.between(1, 512))],
      [1, () => Buffer.from(deepJsonText(rng.between(1000, 100_000), false))],
    ])();
    if (!parses(out) || attempt > 20) return parses(out) ? Buffer.from(`${text}}`) : out;
  }
}

function spliceBytes(rng: Rng, b: Buffer): Buffer {
  const copy = Buffer.from(b);
  const n = rng.between(1, 4);
  for (let i = 0; i < n && copy.length > 0; i++) copy[rng.int(copy.length)] = rng.pick([0x00, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x0a, 0xff]);
  return copy;
}

export function parses(b: Buffer): boolean {
  const t = b.toString("utf8");
  if (t.trim() === "") return true;
  try {
    JSON.parse(t);
    return true;
  } catch {
    return false;
  }
}
