/**
 * Integration tests change links, routes, sysctls and iptables. They must only
 * ever do that in a throwaway network namespace (`unshare --net`), never in the
 * machine's own. Every test file calls assertThrowawayNetns() when it loads, so
 * a run outside such a namespace fails before any test starts.
 */
import { readFileSync, readlinkSync } from "node:fs";

/** The initial namespace's fixed inode on kernels that have PROC_NET_INIT_INO (0xEFFFFFF9). */
const FIXED_INIT_NET = "net:[4026531833]";

function refuse(why: string): never {
  throw new Error(
    `REFUSING to run integration tests: ${why}. They must run in a throwaway network namespace: ` +
      `unshare --net -- sh -c 'ip link set lo up && npx mocha ...'`,
  );
}

function netnsOf(pid: number | "self"): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may contain spaces and parentheses: fields resume after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[1]);
  } catch {
    return undefined;
  }
}

export function assertThrowawayNetns(): void {
  const self = netnsOf("self");
  if (!self) refuse("cannot read /proc/self/ns/net");
  const init = netnsOf(1);
  if (init !== undefined) {
    if (init === self) refuse(`this process is in the same network namespace as pid 1 (${self})`);
    return;
  }
  // pid 1's namespace link may be unreadable (another owner, not dumpable). Then
  // require two other proofs: not the initial namespace, and an ancestor process
  // that is in a different namespace (the one `unshare --net` was started from).
  if (self === FIXED_INIT_NET) refuse(`this process is in the initial network namespace (${self})`);
  let pid = parentOf(process.pid);
  while (pid !== undefined && pid > 1) {
    const ns = netnsOf(pid);
    if (ns === undefined) break;
    if (ns !== self) return;
    pid = parentOf(pid);
  }
  refuse(`cannot read /proc/1/ns/net and no ancestor process is in another network namespace than ${self}`);
}
