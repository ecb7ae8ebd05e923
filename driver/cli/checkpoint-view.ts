/**
 * The plugin's checkpoint as the plugin itself would load it at its next
 * start, read without changing anything: the store is given a file system
 * that refuses every write, so its recovery steps (moving a damaged file
 * aside, deleting temp files) are judged but never carried out.
 */
import { type Checkpoint, openCheckpointStore } from "../checkpoint";
import { type StateFs, nodeStateFs } from "../state/fs";
import type { LoadSource } from "../state/store";

export interface CheckpointView {
  path: string;
  data: Checkpoint | undefined;
  source: LoadSource;
  /** What was wrong with the files, in the store's words. */
  problems: string[];
  writtenAt: string | undefined;
  /** Written before the current boot: the plugin has not started since. */
  rebooted: boolean;
  /** Damaged primaries the plugin moved aside at an earlier start. */
  quarantined: string[];
  /** Temp files of saves that were interrupted. */
  leftoverTemps: string[];
}

const READ_ONLY = "read-only inspection";

/** Every write fails, so load() reports what it would do without doing it. */
export function readOnlyFs(base: StateFs = nodeStateFs): StateFs {
  const refuse = async () => {
    throw new Error(READ_ONLY);
  };
  return {
    readFile: (path) => base.readFile(path),
    readdir: (dir) => base.readdir(dir),
    writeFileDurable: refuse,
    rename: refuse,
    link: refuse,
    unlink: refuse,
    mkdirp: refuse,
    fsyncDir: refuse,
  };
}

export async function readCheckpoint(stateDir: string, opts: { bootIdPath?: string; fs?: StateFs } = {}): Promise<CheckpointView> {
  const fs = readOnlyFs(opts.fs);
  const store = openCheckpointStore(stateDir, opts.bootIdPath, fs);
  const loaded = await store.load();
  const names = await fs.readdir(stateDir).catch(() => [] as string[]);
  const file = store.path.slice(store.path.lastIndexOf("/") + 1);
  return {
    path: store.path,
    data: loaded.data,
    source: loaded.source,
    // The store's note that it could not move a file aside is about our refusal, not the file.
    problems: loaded.problems.filter((p) => !p.includes(READ_ONLY)),
    writtenAt: loaded.writtenAt,
    rebooted: loaded.rebooted,
    quarantined: names.filter((n) => n.startsWith(`${file}.corrupt-`)).sort(),
    leftoverTemps: names.filter((n) => n.startsWith(`${file}.tmp-`)).sort(),
  };
}
