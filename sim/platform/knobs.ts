/**
 * Fault knobs for the simulated platform endpoints. The simulator CLI and the
 * tests write knobs.json in the platform's state directory; the running
 * platform polls it, so faults can be switched on and off while it runs.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { issuePath } from "../../driver/lib/valid";

export const KNOBS_FILE = "knobs.json";

/** Knobs every endpoint understands. Strict so a typo fails loudly instead of silently doing nothing. */
export const EndpointKnobsSchema = v.strictObject({
  /** Delay before each answer. */
  latencyMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(120_000))),
  /** HTTP: answer every request with this status. DNS: answer SERVFAIL. */
  status: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(599))),
  /** Answer 200 (DNS: NOERROR) with a truncated, unparseable body. */
  malformed: v.optional(v.boolean()),
  /** Stop listening: HTTP connections are refused, DNS queries go unanswered. */
  down: v.optional(v.boolean()),
});

export const ImdsKnobsSchema = v.strictObject({
  ...EndpointKnobsSchema.entries,
  /** Like Azure's IMDS throttling: more than this many requests per second from one source get 429. */
  rateLimitPerSecond: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
});

/** Azure Resource Manager (management.azure.com). `status` answers every ARM request with that status and an ARM error body. */
export const ArmKnobsSchema = v.strictObject({
  ...EndpointKnobsSchema.entries,
  /** How long a NIC PUT stays "Updating" before it takes effect (default 1500; real Azure takes seconds). */
  provisioningDelayMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(600_000))),
  /** Like ARM's throttling per principal: the call past this many in a sliding minute gets 429 with Retry-After. */
  callsPerMinute: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  /** Answer every PUT with this status (e.g. 409, 500, 503) while GETs keep working. */
  writeStatus: v.optional(v.pipe(v.number(), v.integer(), v.minValue(400), v.maxValue(599))),
  /** NIC operations end "Failed" (InternalServerError) instead of taking effect. */
  operationsFail: v.optional(v.boolean()),
});

/** Per-VM managed identity and its role. */
export const VmKnobsSchema = v.strictObject({
  /** false: the VM has no managed identity (IMDS answers 400 Identity not found). Default true. */
  identity: v.optional(v.boolean()),
  /** false: the identity has no role on the resource group (ARM answers 403 AuthorizationFailed). Default true. */
  role: v.optional(v.boolean()),
  /** IMDS's token endpoint answers this VM with this status. */
  tokenStatus: v.optional(v.pipe(v.number(), v.integer(), v.minValue(400), v.maxValue(599))),
});

export const KnobsSchema = v.strictObject({
  imds: v.optional(ImdsKnobsSchema),
  wireserver: v.optional(EndpointKnobsSchema),
  dns: v.optional(EndpointKnobsSchema),
  arm: v.optional(ArmKnobsSchema),
  /** Keyed by VM name. */
  vms: v.optional(v.record(v.string(), VmKnobsSchema)),
});

export type EndpointKnobs = v.InferOutput<typeof EndpointKnobsSchema>;
export type ImdsKnobs = v.InferOutput<typeof ImdsKnobsSchema>;
export type ArmKnobs = v.InferOutput<typeof ArmKnobsSchema>;
export type VmKnobs = v.InferOutput<typeof VmKnobsSchema>;
export type Knobs = v.InferOutput<typeof KnobsSchema>;
export type EndpointName = Exclude<keyof Knobs, "vms">;

export function parseKnobs(raw: unknown): Knobs {
  const result = v.safeParse(KnobsSchema, raw);
  if (!result.success) {
    const problems = result.issues.map((i) => `${issuePath(i).join(".") || "(root)"}: ${i.message}`);
    throw new Error(`invalid knobs: ${problems.join("; ")}`);
  }
  return result.output;
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
