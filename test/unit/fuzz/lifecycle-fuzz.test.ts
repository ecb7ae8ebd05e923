/**
 * Stateful invariant fuzzing of the address lifecycle: the real plugin
 * in-process (fake kernel, a Docker that lists nothing, reconciliation every
 * second with a one-second grace), a few concurrent containers making
 * Docker's calls and Docker's mistakes over the socket, and the invariants
 * of lifecycle-model.ts checked after every answer. One test per seed, each
 * on a fresh plugin.
 *
 *   LIFECYCLE_FUZZ_SEEDS   number of seeds (default 10)
 *   LIFECYCLE_FUZZ_COUNT   requests per seed (default 10000)
 *   LIFECYCLE_FUZZ_SEED    first seed (default: a fresh one); the others follow it
 *   LIFECYCLE_FUZZ_DOCKER  what the fake Docker lists: "none" (networks Docker
 *                          does not know: reconciliation must leave them alone),
 *                          or "networks" (the run's networks, still no
 *                          containers: reconciliation judges and reclaims).
 *                          Unset, both run: LIFECYCLE_FUZZ_SEEDS seeds with
 *                          "none", then LIFECYCLE_FUZZ_NETWORK_SEEDS (default 4)
 *                          with "networks".
 *   LIFECYCLE_FUZZ_JOBS    seeds run side by side in worker threads
 *                          (default: the number of cores, at most 4)
 *
 * A seed fixes every choice the generator makes; the interleaving with
 * reconciliation depends on timing, so a replay takes the same path only
 * as far as the timing does.
 */
import { strict as assert } from "node:assert";
import os from "node:os";
import { fuzzSeed } from "../../e2e/helpers/fuzz-rng";
import { type RunOptions, type SeedResult, summaryLine } from "./lifecycle-generator";
import { INVARIANTS } from "./lifecycle-model";
import { runSeeds } from "./lifecycle-worker";

const SHOWN_PER_INVARIANT = 2;

function envInt(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${text}: give an integer ${min}..${max}`);
  return n;
}

function dockerModes(text: string | undefined): RunOptions["docker"][] {
  if (text === undefined || text === "") return ["none", "networks"];
  if (text === "none" || text === "networks") return [text];
  throw new Error(`LIFECYCLE_FUZZ_DOCKER=${text}: give "none" or "networks"`);
}

const SEEDS = envInt("LIFECYCLE_FUZZ_SEEDS", 10, 1, 10_000);
const COUNT = envInt("LIFECYCLE_FUZZ_COUNT", 10_000, 1, 10_000_000);
const FIRST_SEED = envInt("LIFECYCLE_FUZZ_SEED", fuzzSeed({}), 0, 0xffffffff);
const JOBS = envInt("LIFECYCLE_FUZZ_JOBS", Math.min(4, os.availableParallelism()), 1, 64);
const NETWORK_SEEDS = envInt("LIFECYCLE_FUZZ_NETWORK_SEEDS", 4, 0, 10_000);
const MODES = dockerModes(process.env.LIFECYCLE_FUZZ_DOCKER);
const replay = (seed: number, docker: RunOptions["docker"]) =>
  `LIFECYCLE_FUZZ_SEED=${seed} LIFECYCLE_FUZZ_SEEDS=1 LIFECYCLE_FUZZ_COUNT=${COUNT} LIFECYCLE_FUZZ_DOCKER=${docker} npx mocha --config .mocharc.json dist/test/unit/fuzz/lifecycle-fuzz.test.js`;

/** The summary, then the first violations of each invariant with the requests that led to them. */
function report(result: SeedResult, docker: RunOptions["docker"]): string {
  const lines = [summaryLine(result)];
  for (const invariant of INVARIANTS) {
    for (const v of result.violations.filter((v) => v.invariant === invariant && v.trace).slice(0, SHOWN_PER_INVARIANT)) {
      lines.push(`  ${v.invariant} after request #${v.seq}: ${v.message}`);
      for (const step of v.trace ?? []) lines.push(`      ${step}`);
    }
  }
  if (result.violations.length > 0) lines.push(`  replay: ${replay(result.seed, docker)}`);
  return lines.join("\n");
}

for (const docker of MODES) {
  const count = MODES.length === 2 && docker === "networks" ? NETWORK_SEEDS : SEEDS;
  const seeds = Array.from({ length: count }, (_, i) => (FIRST_SEED + (docker === "networks" ? SEEDS : 0) + i) >>> 0);
  const known = docker === "none" ? "networks Docker does not know" : "networks Docker lists, with no containers";
  describe(`lifecycle fuzzing: addresses through Docker's endpoint lifecycle, with reconciliation, on ${known}`, function () {
    const summaries: string[] = [];
    let results: Promise<SeedResult>[] = [];

    before(function () {
      const options = seeds.map((seed) => ({ seed, count: COUNT, concurrency: 4, containers: 8, pauses: 3, pauseMs: 1100, docker }));
      results = runSeeds(options, JOBS);
      // Each test awaits its own; this keeps a seed that fails before its test starts from being reported as unhandled.
      for (const result of results) result.catch(() => undefined);
    });

    after(function () {
      if (summaries.length === 0) return;
      console.log(`\n${summaries.join("\n")}\nreplay one seed: ${replay(seeds[0], docker).replace(String(seeds[0]), "<seed>")}`);
    });

    seeds.forEach((seed, i) => {
      it(`seed ${seed}: ${COUNT} requests, no double grant and no other violation`, async function () {
        // About 2 ms per request with two seeds on two cores, plus the pauses; the seed may have started already.
        this.timeout(60_000 + COUNT * 10);
        const result = await results[i];
        summaries.push(summaryLine(result));
        console.log(report(result, docker));
        const first = result.violations[0];
        assert.equal(
          result.violations.length,
          0,
          `seed ${seed}: ${result.violations.length} violations (${result.stats.doubleGrants} double grants); first: ${first?.invariant} ${first?.message}`,
        );
      });
    });
  });
}
