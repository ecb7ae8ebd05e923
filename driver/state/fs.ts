/** The few file system operations the checkpoint store needs, durable where it matters, replaceable in tests. */
import fs from "node:fs";
import { readFile } from "../lib/fs-async";

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

/**
 * The write path (write, fsync, rotate, rename, directory fsync) makes its
 * system calls back to back, so a save takes one turn of the event loop
 * rather than a dozen: with many requests in flight, each of a dozen turns
 * waited behind all of them, and the saves that answers wait for fell far
 * behind. Saves are merged, so at most one write holds the loop at a time, for
 * its two fsyncs. Reading a whole file (start-up, operator commands) stays
 * asynchronous.
 */
export const nodeStateFs: StateFs = {
  readFile: (path) => readFile(path),

  async writeFileDurable(path, data) {
    const fd = fs.openSync(path, "w", 0o600);
    try {
      fs.writeFileSync(fd, data, "utf8");
      // Without this, a crash after the rename can leave a renamed file whose
      // blocks never reached the disk: the empty/zero-filled state of old.
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },

  rename: async (from, to) => fs.renameSync(from, to),

  async link(existing, newPath) {
    try {
      fs.linkSync(existing, newPath);
    } catch (err) {
      if (!LINK_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      // Some file systems (FUSE, some network mounts) refuse hard links; a
      // durable copy is slower but keeps the same guarantee.
      await nodeStateFs.writeFileDurable(newPath, fs.readFileSync(existing, "utf8"));
    }
  },

  unlink: async (path) => fs.unlinkSync(path),
  readdir: async (dir) => fs.readdirSync(dir),
  mkdirp: async (dir) => {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  },

  async fsyncDir(dir) {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
};
