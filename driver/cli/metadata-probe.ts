/**
 * Asks the metadata sources the plugin is configured with, each on its own
 * and with a short deadline, so the operator sees which one answers rather
 * than only whether the plugin's fallback chain got something.
 */
import type { ServeConfig } from "../config";
import { FileSource, ImdsSource, type MetadataSource, type NicInfo, WireserverSource } from "../ipam";
import { probe } from "./probed";

export interface SourceAttempt {
  source: string;
  /** Where it was asked (URL or file). */
  target: string;
  ok: boolean;
  nics?: NicInfo[];
  error?: string;
  ms: number;
}

export interface MetadataProbe {
  /** The configured kind: auto, imds, wireserver or file. */
  configured: ServeConfig["metadataSource"];
  attempts: SourceAttempt[];
  /** The answer the plugin would use: the first source in its order that answered. */
  answeredBy?: string;
  nics?: NicInfo[];
}

interface Candidate {
  source: MetadataSource;
  target: string;
}

function candidates(config: ServeConfig, timeoutMs: number): Candidate[] {
  const imds = new ImdsSource({ baseUrl: config.imdsUrl, timeoutMs });
  const wireserver = new WireserverSource({ baseUrl: config.wireserverUrl, timeoutMs });
  switch (config.metadataSource) {
    case "imds":
      return [{ source: imds, target: imds.url }];
    case "wireserver":
      return [{ source: wireserver, target: wireserver.url }];
    case "file":
      return [{ source: new FileSource(config.metadataFile as string), target: config.metadataFile as string }];
    default:
      return [
        { source: imds, target: imds.url },
        { source: wireserver, target: wireserver.url },
      ];
  }
}

/**
 * With `all`, every configured source is asked (in parallel), so a failing
 * fallback shows too; otherwise they are asked in the plugin's order until
 * one answers.
 */
export async function probeMetadata(config: ServeConfig, opts: { timeoutMs: number; all: boolean }): Promise<MetadataProbe> {
  const ask = async ({ source, target }: Candidate): Promise<SourceAttempt> => {
    const t0 = Date.now();
    const result = await probe(() => source.fetch());
    const ms = Date.now() - t0;
    return result.ok
      ? { source: source.name, target, ok: true, nics: result.value, ms }
      : { source: source.name, target, ok: false, error: result.error, ms };
  };
  const list = candidates(config, opts.timeoutMs);
  let attempts: SourceAttempt[];
  if (opts.all) {
    attempts = await Promise.all(list.map(ask));
  } else {
    attempts = [];
    for (const c of list) {
      const attempt = await ask(c);
      attempts.push(attempt);
      if (attempt.ok) break;
    }
  }
  const first = attempts.find((a) => a.ok);
  return { configured: config.metadataSource, attempts, ...(first && { answeredBy: first.source, nics: first.nics }) };
}
