/**
 * Runs lifecycle-fuzz seeds in worker threads, a few at a time: each seed's
 * plugin is single-threaded and waits on its own state file much of the
 * time, so seeds side by side use the cores a CI runner has. Loaded as a
 * worker, this file runs the one seed in its workerData.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { type RunOptions, runSeed, type SeedResult } from "./lifecycle-generator";

type Reply = { result: SeedResult } | { error: string };

function runInWorker(options: RunOptions): Promise<SeedResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: options });
    let settled = false;
    worker.once("message", (reply: Reply) => {
      settled = true;
      if ("result" in reply) resolve(reply.result);
      else reject(new Error(`seed ${options.seed}: ${reply.error}`));
    });
    worker.once("error", (err) => {
      settled = true;
      reject(err);
    });
    worker.once("exit", (code) => {
      if (!settled) reject(new Error(`seed ${options.seed}: the worker exited with code ${code} before answering`));
    });
  });
}

/** One promise per seed, in order; at most `jobs` seeds run at once. */
export function runSeeds(seeds: readonly RunOptions[], jobs: number): Promise<SeedResult>[] {
  let running = 0;
  const waiting: Array<() => void> = [];
  const slot = async (): Promise<void> => {
    if (running < jobs) {
      running++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const free = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return seeds.map(async (options) => {
    await slot();
    try {
      return await runInWorker(options);
    } finally {
      free();
    }
  });
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  runSeed(workerData as RunOptions).then(
    (result) => port.postMessage({ result } satisfies Reply),
    (err: unknown) => port.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies Reply),
  );
}
