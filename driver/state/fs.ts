/** The few file system operations the checkpoint store needs, durable where it matters, replaceable in tests. */
import { promises as fsp } from "node:fs";

/**
 * The file operations the checkpoint store needs, behind a seam so tests can
 * inject failures (ENOSPC, a crash between write and rename) that cannot be
 * produced on a real file system while running as root.
 */
export interface StateFs {
  readFile(path: string): Promise<Buffer>;
  /** Create or replace `path` with `data` and fsync it before resolving. */
  writeFileDurable(path: string, data: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Give `existing` a second name; `newPath` must not exist. */
  link(existing: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  mkdirp(dir: string): Promise<void>;
  /** Persist the directory entry changes (renames) made in `dir`. */
  fsyncDir(dir: string): Promise<void>;
}

/** Error codes that mean "this file system cannot hard-link", not "I/O failed". */
const LINK_UNSUPPORTED = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EXDEV"]);

export const nodeStateFs: StateFs = {
  readFile: (path) => fsp.readFile(path),

  async writeFileDurable(path, data) {
    const handle = await fsp.open(path, "w", 0o600);
    try {
      await handle.writeFile(data, "utf8");
      // Without this, a crash after the rename can leave a renamed file whose
      // blocks never reached the disk: the empty/zero-filled state of old.
      await handle.sync();
    } finally {
      await handle.close();
    }
  },

  rename: (from, to) => fsp.rename(from, to),

  async link(existing, newPath) {
    try {
      await fsp.link(existing, newPath);
    } catch (err) {
      if (!LINK_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      // Some file systems (FUSE, some network mounts) refuse hard links; a
      // durable copy is slower but keeps the same guarantee.
      await nodeStateFs.writeFileDurable(newPath, (await fsp.readFile(existing)).toString("utf8"));
    }
  },

  unlink: (path) => fsp.unlink(path),
  readdir: (dir) => fsp.readdir(dir),
  mkdirp: async (dir) => {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  },

  async fsyncDir(dir) {
    const handle = await fsp.open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};
