/**
 * Turns templates into the fuzzer's requests: as they are, with fields of the
 * wrong type or hostile text, as broken JSON, oversized, at unknown paths,
 * with other HTTP methods, or as bytes that are not HTTP at all. The i-th
 * case depends only on the seed, so a failure replays with FUZZ_SEED.
 */
import { Rng } from "./fuzz-rng";
import { FuzzContext, Expect, Json, Path, Template, anyTemplate, firewallTemplate, OUT_OF_ORDER } from "./fuzz-templates";
import { HOSTILE_KEYS, HOSTILE_STRINGS, corruptJson, deepJsonText, wrongTypeValue } from "./fuzz-values";

export const CATEGORIES = [
  "bad-values",
  "out-of-order",
  "firewall",
  "wrong-type",
  "hostile-string",
  "wrong-shape",
  "malformed-json",
  "oversized",
  "huge-field",
  "unknown-path",
  "wrong-method",
  "odd-transport",
  "raw",
] as const;
export type Category = (typeof CATEGORIES)[number];

/** Most requests parse and reach validation or a handler; the rest probe the layers before. */
const WEIGHTS: readonly (readonly [number, Category])[] = [
  [24, "bad-values"],
  [14, "out-of-order"],
  [8, "firewall"],
  [14, "wrong-type"],
  [12, "hostile-string"],
  [3, "wrong-shape"],
  [9, "malformed-json"],
  [0.3, "oversized"],
  [0.7, "huge-field"],
  [5, "unknown-path"],
  [5, "wrong-method"],
  [3, "odd-transport"],
  [2, "raw"],
].map(([w, c]) => [Math.round((w as number) * 10), c as Category] as const);

export interface FuzzCase {
  index: number;
  category: Category;
  /** Method and mutation, for the failure report. */
  note: string;
  httpMethod: string;
  path: string;
  body: Buffer;
  headers: Record<string, string | number>;
  /** Bytes for a bare connection instead of an HTTP request. */
  raw?: Buffer;
  expect: Expect | "http-reject";
}

/** Over the plugin's 1 MiB limit. */
const OVERSIZED_BYTES = 1024 * 1024 + 1;

export function* fuzzCases(seed: number, ctx: FuzzContext, count: number): Generator<FuzzCase> {
  const rng = new Rng(seed);
  for (let index = 0; index < count; index++) yield makeCase(rng, ctx, index);
}

function makeCase(rng: Rng, c: FuzzContext, index: number): FuzzCase {
  const category = rng.weighted(WEIGHTS);
  const t =
    category === "firewall"
      ? firewallTemplate(rng, c)
      : category === "out-of-order"
        ? rng.weighted(OUT_OF_ORDER)(rng, c)
        : anyTemplate(rng, c);
  const base = { index, category, httpMethod: "POST", path: `/${t.method}`, headers: {} as Record<string, string | number> };
  const json = (body: Json) => Buffer.from(`${JSON.stringify(body)}${rng.chance(0.8) ? "\n" : ""}`);
  switch (category) {
    case "bad-values":
    case "out-of-order":
    case "firewall":
      return { ...base, note: `${t.method} ${t.label}`, body: json(t.body), expect: t.expect };
    case "wrong-type": {
      const notes: string[] = [];
      for (let i = rng.between(1, 3); i > 0; i--) notes.push(mutate(rng, t, () => wrongTypeValue(rng)));
      return { ...base, note: `${t.method} ${t.label}: ${notes.join(", ")}`, body: json(t.body), expect: t.expect };
    }
    case "hostile-string": {
      const notes: string[] = [];
      for (let i = rng.between(1, 2); i > 0; i--)
        notes.push(rng.chance(0.3) ? renameKey(rng, t) : mutate(rng, t, () => rng.pick(HOSTILE_STRINGS), true));
      return { ...base, note: `${t.method} ${t.label}: ${notes.join(", ")}`, body: json(t.body), expect: t.expect };
    }
    case "wrong-shape": {
      const shape = rng.pick<[string, string]>([
        ["array", "[]"],
        ["array of body", `[${JSON.stringify(t.body)}]`],
        ["number", "5"],
        ["string", '"NetworkDriver.Join"'],
        ["true", "true"],
        ["huge number", "1e999"],
        ["deep array", deepJsonText(rng.between(100, 50_000), true)],
      ]);
      return { ...base, note: `${t.method} body ${shape[0]}`, body: Buffer.from(shape[1]), expect: "error" };
    }
    case "malformed-json": {
      const body = corruptJson(rng, JSON.stringify(t.body));
      return { ...base, note: `${t.method} malformed JSON (${body.length} bytes)`, body, expect: "error" };
    }
    case "oversized": {
      const body = padded(t.body, OVERSIZED_BYTES + rng.int(64 * 1024));
      const chunked = rng.chance(0.3);
      return {
        ...base,
        note: `${t.method} ${body.length} bytes${chunked ? " chunked" : ""}`,
        body,
        headers: chunked ? { "Transfer-Encoding": "chunked" } : {},
        expect: "error",
      };
    }
    case "huge-field": {
      // One-byte characters stay under the body limit and reach validation, which must refuse
      // the field; "é" and "\n" (escaped) take two bytes each, so 900 K of them test the limit.
      const size = rng.pick([5000, 64 * 1024, 900 * 1024]);
      const field =
        t.method === "IpamDriver.RequestAddress"
          ? "Address"
          : rng.pick(
              Object.keys(t.body)
                .filter((k) => !isGuarded(t, [k]))
                .concat(["NetworkID"]),
            );
      t.body[field] = rng.pick(["a", "1", "é", "\n"]).repeat(size);
      // Fields typed "anything" (DiscoveryData) legitimately take it, so only templates that must fail still must.
      return { ...base, note: `${t.method} ${field} of ${size} characters`, body: json(t.body), expect: t.expect };
    }
    case "unknown-path": {
      const path = unknownPath(rng, t.method);
      return { ...base, path, note: `path ${path.slice(0, 80)}`, body: json(t.body), expect: "error" };
    }
    case "wrong-method": {
      const method = rng.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"]);
      return {
        ...base,
        httpMethod: method,
        note: `${method} /${t.method}`,
        body: method === "GET" || method === "HEAD" || method === "TRACE" ? Buffer.alloc(0) : json(t.body),
        expect: "error",
      };
    }
    case "odd-transport": {
      const variant = rng.int(4);
      const headers: Record<string, string> = [
        { "Transfer-Encoding": "chunked" },
        { "Content-Type": rng.pick(["text/plain", "application/json", "multipart/form-data; boundary=x"]) },
        { Expect: "100-continue" },
        { Accept: "*/*", "X-Forwarded-For": "$(reboot)" },
      ][variant] as Record<string, string>;
      const path = rng.chance(0.3) ? `/${t.method}?${rng.pick(["x=1", "a=$(reboot)", "&&", "%00"])}` : `/${t.method}`;
      return {
        ...base,
        path,
        headers,
        note: `${t.method} ${Object.keys(headers).join(",")} ${path === base.path ? "" : "query"}`,
        body: json(t.body),
        expect: t.expect,
      };
    }
    case "raw":
      return { ...base, note: "raw bytes", body: Buffer.alloc(0), raw: rawPayload(rng, t), expect: "http-reject" };
  }
}

/** Paths that must not reach any method: near-misses of real ones, traversal, junk. */
function unknownPath(rng: Rng, method: string): string {
  return rng.pick([
    `/${method.toLowerCase()}`,
    `/${method.toUpperCase()}`,
    `/${method}/`,
    `//${method}`,
    `/../${method}`,
    `/${method}%00`,
    `/${method};reboot`,
    `/${method}.`,
    `/x/${method}`,
    "/",
    "/NetworkDriver.GwAllocCheck",
    "/Plugin.Deactivate",
    "/IpamDriver.",
    "/%2e%2e/%2e%2e/etc/passwd",
    `/${encodePath(rng.pick(HOSTILE_STRINGS).slice(0, 200))}`,
    `/${"A".repeat(rng.pick([1000, 8000]))}`,
    `/__proto__`,
    `/constructor`,
  ]);
}

/** encodeURIComponent, except that a lone surrogate (which it refuses) is sent as its UTF-16 code unit in hex. */
function encodePath(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return Array.from(s, (ch) => ch.charCodeAt(0).toString(16)).join("-");
  }
}

function rawPayload(rng: Rng, t: Template): Buffer {
  const body = JSON.stringify(t.body);
  return rng.pick([
    () => rng.bytes(rng.between(1, 2048)),
    () => Buffer.from(`POST /${t.method} HTTP/1.1\r\nContent-Length: -5\r\n\r\n${body}`),
    () => Buffer.from(`POST /${t.method} HTTP/9.9\r\nContent-Length: ${body.length}\r\n\r\n${body}`),
    () => Buffer.from(`POST /${t.method} HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`),
    () => Buffer.from(`POST /${t.method} HTTP/1.1\r\nX: a\nb\r\n\r\n`),
    () => Buffer.from(`POST /${t.method} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${body}\r\n0\r\n\r\n`),
    () => Buffer.from(`POST /${t.method} HTTP/1.1\r\nX-Big: ${"h".repeat(20_000)}\r\n\r\n`),
    // Node accepts a request line without a version as a request with no body: aimed at a call
    // that takes none, since an empty RequestPool is a legitimate "pick the subnet for me".
    () => Buffer.from(`POST /Plugin.Activate\r\n\r\n`),
    () => Buffer.from(`\r\n\r\n\r\n`),
    () => Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`),
    () =>
      Buffer.concat([
        Buffer.from(`POST /${t.method} HTTP/1.1\r\nContent-Length: 10\r\n`),
        Buffer.from([0, 1, 2, 0xff]),
        Buffer.from("\r\n\r\n"),
      ]),
  ])();
}

/** A body larger than `size`: the template with one field padded out. */
function padded(body: Record<string, Json>, size: number): Buffer {
  return Buffer.from(JSON.stringify({ ...body, Padding: "p".repeat(size) }));
}

function isGuarded(t: Template, path: Path): boolean {
  const prefix = (a: Path, b: Path) => a.length <= b.length && a.every((p, i) => p === b[i]);
  return t.guards.some((g) => prefix(g, path) || prefix(path, g));
}

/** Every path into the body (objects and arrays, not the root) that no guard covers. */
function freePaths(t: Template, stringsOnly: boolean): Path[] {
  const out: Path[] = [];
  const walk = (value: Json, path: Path) => {
    // Deep values planted by an earlier mutation are one field, not thousands.
    if (path.length > 6) return;
    if (path.length > 0 && !isGuarded(t, path) && (!stringsOnly || typeof value === "string")) out.push(path);
    if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, [...path, Array.isArray(value) ? Number(k) : k]);
    }
  };
  walk(t.body, []);
  return out;
}

function parentOf(body: Json, path: Path): Record<string | number, Json> {
  let node = body as Record<string | number, Json>;
  for (const p of path.slice(0, -1)) node = node[p] as Record<string | number, Json>;
  return node;
}

/** Replace (or delete, or add) one unguarded field; returns what it did. */
function mutate(rng: Rng, t: Template, value: () => Json, stringsOnly = false): string {
  const paths = freePaths(t, stringsOnly);
  if (paths.length === 0 || rng.chance(0.1)) {
    const key = rng.pick(["Extra", "networkid", "NetworkId", "Options2", "__proto__", "constructor"]);
    if (!isGuarded(t, [key])) setOwn(t.body, key, value());
    return `added ${key}`;
  }
  const path = rng.pick(paths);
  const parent = parentOf(t.body, path);
  const last = path[path.length - 1];
  if (!stringsOnly && rng.chance(0.15) && !Array.isArray(parent)) {
    delete parent[last];
    return `deleted ${path.join(".")}`;
  }
  parent[last] = value();
  return `set ${path.join(".")}`;
}

/** Give an unguarded object's key a hostile name (option maps are the usual target). */
function renameKey(rng: Rng, t: Template): string {
  const objects = freePaths(t, false).filter((p) => {
    const v = parentOf(t.body, [...p, "_"]);
    return v !== null && typeof v === "object" && !Array.isArray(v);
  });
  const target = objects.length ? (parentOf(t.body, [...rng.pick(objects), "_"]) as Record<string, Json>) : undefined;
  if (!target) return mutate(rng, t, () => rng.pick(HOSTILE_STRINGS), true);
  setOwn(target, rng.pick(HOSTILE_KEYS), rng.pick(HOSTILE_STRINGS));
  return "hostile key";
}

/** Plain assignment to "__proto__" would change the prototype instead of adding a key that JSON sends. */
function setOwn(target: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
