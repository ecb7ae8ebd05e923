/** Owns the --ipam-opt keys this driver understands and their checks. */
import { PluginError } from "../errors";
import { cleanText } from "../lib/text";

/**
 * The --ipam-opt keys this driver understands. Adding one is one entry here:
 * a description for error messages and a check that returns a complaint or
 * undefined.
 */
export const POOL_OPTIONS: Record<string, { description: string; check: (value: string) => string | undefined }> = {};

/** Docker may set keys of its own in this map; those are not the user's typos. */
const DOCKER_PREFIX = "com.docker.";

export function validatePoolOptions(options: Record<string, string> | null | undefined): Record<string, string> {
  const given = options ?? {};
  const known = Object.keys(POOL_OPTIONS);
  const accepted: Record<string, string> = {};
  for (const [key, value] of Object.entries(given)) {
    if (key.startsWith(DOCKER_PREFIX)) continue;
    // Own keys only: "constructor" is no option, whatever Object.prototype says.
    const option = Object.hasOwn(POOL_OPTIONS, key) ? POOL_OPTIONS[key] : undefined;
    if (!option) {
      const hint = known.length
        ? `known options: ${known.map((k) => `${k} (${POOL_OPTIONS[k].description})`).join(", ")}`
        : "this driver takes no --ipam-opt options";
      throw new PluginError(`unknown IPAM option "${cleanText(key)}"; ${hint}`);
    }
    const complaint = option.check(String(value));
    if (complaint) throw new PluginError(`IPAM option ${key}=${value}: ${complaint}`);
    accepted[key] = String(value);
  }
  return accepted;
}
