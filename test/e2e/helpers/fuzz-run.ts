/**
 * Runs fuzz cases against a plugin socket a few at a time and judges each
 * answer: within the time bound, a JSON error (HTTP 500 or 404) for anything
 * that must fail, a JSON object for the calls that may succeed, and error
 * texts with no raw control characters (they end up in logs and terminals).
 */
import { CATEGORIES, Category, FuzzCase, fuzzCases } from "./fuzz-cases";
import type { FuzzContext } from "./fuzz-templates";
import { Answer, send } from "./fuzz-client";

/** Which layer answered, judged from the reply. */
export type Stage = "transport" | "routing" | "http-method" | "body" | "validation" | "handler" | "handler-ok";

export interface FuzzReport {
  seed: number;
  sent: number;
  byCategory: Record<Category, number>;
  byStage: Record<Stage, number>;
  byStatus: Record<string, number>;
  slowestMs: number;
  slowest: string;
  failures: string[];
  /** Errors the plugin classed as internal (an unexpected exception): always a bug. */
  internalErrors: number;
}

export interface FuzzOptions {
  seed: number;
  count: number;
  socket: string;
  context: FuzzContext;
  concurrency?: number;
  timeoutMs?: number;
  /** Called between cases, e.g. to check the plugin process is still the same one. */
  onProgress?: (done: number) => void | Promise<void>;
}

// Matching control characters is the point: an echoed one could forge a log line.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
/** An error reply quoting a request value must shorten it. */
const MAX_ERROR_CHARS = 2048;

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const timeoutMs = o.timeoutMs ?? 2000;
  const report: FuzzReport = {
    seed: o.seed,
    sent: 0,
    byCategory: Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>,
    byStage: { transport: 0, routing: 0, "http-method": 0, body: 0, validation: 0, handler: 0, "handler-ok": 0 },
    byStatus: {},
    slowestMs: 0,
    slowest: "",
    failures: [],
    internalErrors: 0,
  };
  const cases = fuzzCases(o.seed, o.context, o.count);
  const worker = async () => {
    for (let next = cases.next(); !next.done; next = cases.next()) {
      const c = next.value;
      const answer = await send(o.socket, c, timeoutMs);
      report.sent += 1;
      report.byCategory[c.category] += 1;
      report.byStatus[String(answer.status)] = (report.byStatus[String(answer.status)] ?? 0) + 1;
      if (answer.ms > report.slowestMs) [report.slowestMs, report.slowest] = [answer.ms, `#${c.index} ${c.note}`];
      const stage = stageOf(c, answer);
      report.byStage[stage] += 1;
      const problem = judge(c, answer, timeoutMs);
      if (/^internal error/.test(errText(answer))) report.internalErrors += 1;
      if (problem) report.failures.push(`#${c.index} [${c.category}] ${c.note}: ${problem}`);
      await o.onProgress?.(report.sent);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 8 }, worker));
  return report;
}

function errText(a: Answer): string {
  try {
    const body = JSON.parse(a.text) as { Err?: unknown };
    return typeof body.Err === "string" ? body.Err : "";
  } catch {
    return "";
  }
}

export function stageOf(c: FuzzCase, a: Answer): Stage {
  if (c.raw || a.status === 0) return "transport";
  if (a.status === 200) return "handler-ok";
  const err = errText(a);
  if (a.status === 404 || /^unknown method /.test(err)) return "routing";
  if (/ must be called with POST/.test(err) || (c.httpMethod === "HEAD" && a.status === 500)) return "http-method";
  if (/^invalid \S+ request: body: /.test(err)) return "body";
  if (/^invalid \S+ request: /.test(err)) return "validation";
  return "handler";
}

/** What is wrong with this answer, or undefined. */
export function judge(c: FuzzCase, a: Answer, timeoutMs: number): string | undefined {
  if (a.timedOut || a.ms > timeoutMs) return `no answer within ${timeoutMs} ms`;
  if (c.expect === "http-reject") {
    // Not HTTP, or broken HTTP: a refusal or a hang-up is right; a JSON error is fine too.
    if (a.transportError) return `connection failed: ${a.transportError}`;
    return a.status === 0 || (a.status >= 200 && a.status < 600) ? undefined : `odd reply ${a.text.slice(0, 80)}`;
  }
  if (a.transportError) return `no answer: ${a.transportError}`;
  if (a.status === 200) {
    if (c.expect === "error") return `succeeded but must fail: ${a.text.slice(0, 200)}`;
    return isJsonObject(a.text) ? undefined : `200 without a JSON object: ${a.text.slice(0, 80)}`;
  }
  if (a.status !== 500 && a.status !== 404) return `HTTP ${a.status} (want 500 or 404): ${a.text.slice(0, 120)}`;
  // A HEAD reply carries no body by definition.
  if (c.httpMethod === "HEAD") return a.text === "" ? undefined : "HEAD reply with a body";
  const err = errText(a);
  if (!err) return `error without {"Err": "..."}: ${a.text.slice(0, 120)}`;
  if (CONTROL.test(err)) return `error text carries control characters: ${JSON.stringify(err.slice(0, 120))}`;
  if (err.length > MAX_ERROR_CHARS) return `error text of ${err.length} characters`;
  if (/^internal error/.test(err)) return `internal error: ${err.slice(0, 200)}`;
  if (/ timed out after /.test(err)) return `handler timed out: ${err.slice(0, 120)}`;
  return undefined;
}

function isJsonObject(text: string): boolean {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === "object" && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** A few lines for the test log: counts per category, layer and status. */
export function summarise(r: FuzzReport): string {
  const row = (o: Record<string, number>) =>
    Object.entries(o)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k}=${n}`)
      .join(" ");
  return [
    `fuzz seed ${r.seed} (replay with FUZZ_SEED=${r.seed}): ${r.sent} requests, ${r.failures.length} failures, slowest ${r.slowestMs.toFixed(0)} ms (${r.slowest.slice(0, 100)})`,
    `  categories: ${row(r.byCategory)}`,
    `  answered by: ${row(r.byStage)}`,
    `  statuses: ${row(r.byStatus)}`,
  ].join("\n");
}
