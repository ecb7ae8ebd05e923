import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CheckpointStore, type CheckpointStoreOptions } from "../../../driver/state/store";
import { nodeStateFs, type StateFs } from "../../../driver/state/fs";

/** The document the tests store: a counter and a list, both checked. */
export interface Doc {
  version: number;
  items: string[];
}

export function validateDoc(doc: unknown): Doc {
  const d = doc as Partial<Doc> | null;
  if (!d || typeof d.version !== "number" || !Array.isArray(d.items)) throw new Error("not a Doc: needs version and items");
  return { version: d.version, items: d.items.map(String) };
}

export function doc(version: number): Doc {
  return { version, items: [`item-${version}`] };
}

export interface TempDir {
  path: string;
  bootIdFile: string;
  cleanup(): void;
}

export function tempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), "azure-vnet-state-"));
  const bootIdFile = join(path, "boot_id");
  writeFileSync(bootIdFile, "11111111-2222-3333-4444-555555555555\n");
  return { path, bootIdFile, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A store over `dir/state` with a fake boot id and a clock that ticks per call. */
export function makeStore(t: TempDir, extra: Partial<CheckpointStoreOptions<Doc>> = {}): CheckpointStore<Doc> {
  let tick = Date.parse("2026-01-01T00:00:00.000Z");
  return new CheckpointStore<Doc>({
    dir: join(t.path, "state"),
    schemaVersion: 2,
    validate: validateDoc,
    bootIdPath: t.bootIdFile,
    now: () => new Date((tick += 1000)),
    ...extra,
  });
}

export function errnoError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: simulated failure, ${syscall} '${path}'`);
  err.code = code;
  err.syscall = syscall;
  err.path = path;
  return err;
}

/** The real file system with some operations replaced. */
export function fsWith(overrides: Partial<StateFs>): StateFs {
  return { ...nodeStateFs, ...overrides };
}
