/**
 * Fault knobs for the simulated platform endpoints. The simulator CLI and the
 * tests write knobs.json in the platform's state directory; the running
 * platform polls it, so faults can be switched on and off while it runs.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

export const KNOBS_FILE = "knobs.json";

/** Knobs every endpoint understands. Strict so a typo fails loudly instead of silently doing nothing. */
export const EndpointKnobsSchema = z.strictObject({
  /** Delay before each answer. */
  latencyMs: z.number().int().min(0).max(120_000).optional(),
  /** HTTP: answer every request with this status. DNS: answer SERVFAIL. */
  status: z.number().int().min(100).max(599).optional(),
  /** Answer 200 (DNS: NOERROR) with a truncated, unparseable body. */
  malformed: z.boolean().optional(),
  /** Stop listening: HTTP connections are refused, DNS queries go unanswered. */
  down: z.boolean().optional(),
});

export const ImdsKnobsSchema = EndpointKnobsSchema.extend({
  /** Like Azure's IMDS throttling: more than this many requests per second from one source get 429. */
  rateLimitPerSecond: z.number().int().min(1).optional(),
});

export const KnobsSchema = z.strictObject({
  imds: ImdsKnobsSchema.optional(),
  wireserver: EndpointKnobsSchema.optional(),
  dns: EndpointKnobsSchema.optional(),
});

export type EndpointKnobs = z.infer<typeof EndpointKnobsSchema>;
export type ImdsKnobs = z.infer<typeof ImdsKnobsSchema>;
export type Knobs = z.infer<typeof KnobsSchema>;
export type EndpointName = keyof Knobs;

export function parseKnobs(raw: unknown): Knobs {
  const result = KnobsSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`invalid knobs: ${problems.join("; ")}`);
  }
  return result.data;
}

/** Knobs currently in stateDir; no file means no faults. */
export function readKnobs(stateDir: string): Knobs {
  let text: string;
  try {
    text = readFileSync(join(stateDir, KNOBS_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw err;
  }
  return parseKnobs(JSON.parse(text));
}

/**
 * Validate and replace knobs.json. Written to a temporary file and renamed so
 * the polling platform never reads a half-written file.
 */
export function writeKnobs(stateDir: string, knobs: Knobs): void {
  const valid = parseKnobs(knobs);
  mkdirSync(stateDir, { recursive: true });
  const target = join(stateDir, KNOBS_FILE);
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(valid, null, 2) + "\n");
  renameSync(tmp, target);
}

/** Replace one endpoint's knobs (undefined clears them) and keep the others. */
export function setEndpointKnobs<E extends EndpointName>(stateDir: string, endpoint: E, knobs: Knobs[E] | undefined): Knobs {
  const next: Knobs = { ...readKnobs(stateDir) };
  if (knobs === undefined) delete next[endpoint];
  else next[endpoint] = knobs;
  writeKnobs(stateDir, next);
  return next;
}
