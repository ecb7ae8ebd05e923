/** The kernel's boot id, which tells a checkpoint written before a reboot from one written since. */
import type { StateFs } from "./fs";

/** Linux gives every boot a fresh random id here. */
export const DEFAULT_BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id";

/**
 * The current boot id, or "" when the kernel does not expose one (not Linux,
 * /proc not mounted). An empty id disables reboot detection rather than
 * pretending every start is a reboot.
 */
export async function readBootId(fs: StateFs, path: string): Promise<string> {
  try {
    return (await fs.readFile(path)).toString("utf8").trim();
  } catch {
    return "";
  }
}
