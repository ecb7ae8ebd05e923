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

/** Azure Resource Manager (management.azure.com). `status` answers every ARM request with that status and an ARM error body. */
export const ArmKnobsSchema = EndpointKnobsSchema.extend({
  /** How long a NIC PUT stays "Updating" before it takes effect (default 1500; real Azure takes seconds). */
  provisioningDelayMs: z.number().int().min(0).max(600_000).optional(),
  /** Like ARM's throttling per principal: the call past this many in a sliding minute gets 429 with Retry-After. */
  callsPerMinute: z.number().int().min(1).optional(),
  /** Answer every PUT with this status (e.g. 409, 500, 503) while GETs keep working. */
  writeStatus: z.number().int().min(400).max(599).optional(),
  /** NIC operations end "Failed" (InternalServerError) instead of taking effect. */
  operationsFail: z.boolean().optional(),
});

/** Per-VM managed identity and its role. */
export const VmKnobsSchema = z.strictObject({
  /** false: the VM has no managed identity (IMDS answers 400 Identity not found). Default true. */
  identity: z.boolean().optional(),
  /** false: the identity has no role on the resource group (ARM answers 403 AuthorizationFailed). Default true. */
  role: z.boolean().optional(),
  /** IMDS's token endpoint answers this VM with this status. */
  tokenStatus: z.number().int().min(400).max(599).optional(),
});

export const KnobsSchema = z.strictObject({
  imds: ImdsKnobsSchema.optional(),
  wireserver: EndpointKnobsSchema.optional(),
  dns: EndpointKnobsSchema.optional(),
  arm: ArmKnobsSchema.optional(),
  /** Keyed by VM name. */
  vms: z.record(z.string(), VmKnobsSchema).optional(),
});

export type EndpointKnobs = z.infer<typeof EndpointKnobsSchema>;
export type ImdsKnobs = z.infer<typeof ImdsKnobsSchema>;
export type ArmKnobs = z.infer<typeof ArmKnobsSchema>;
export type VmKnobs = z.infer<typeof VmKnobsSchema>;
export type Knobs = z.infer<typeof KnobsSchema>;
export type EndpointName = Exclude<keyof Knobs, "vms">;

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
