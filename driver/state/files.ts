/** The checkpoint's files on disk: the primary, its generations, temp files of saves, and quarantined damaged copies. */
import { join } from "node:path";
import type { StateFs } from "./fs";

/** How many quarantined (unusable) primaries are kept for inspection. */
export const MAX_QUARANTINED = 5;

/**
 * Names and moves the files that make up one checkpoint: the primary, its
 * older generations (`state.json.1` is the newest), temp files of saves in
 * progress and quarantined copies of unusable primaries.
 */
export class CheckpointFiles {
  readonly primary: string;

  constructor(
    readonly dir: string,
    readonly file: string,
    private readonly fs: StateFs,
  ) {
    this.primary = join(dir, file);
  }

  generation(n: number): string {
    return join(this.dir, `${this.file}.${n}`);
  }

  temp(seq: number): string {
    return join(this.dir, `${this.file}.tmp-${process.pid}-${seq}`);
  }

  /**
   * Shift generations down by one and make the current primary generation 1.
   * The primary gets its second name by a hard link, not a rename, so there is
   * never a moment without a primary file if the process dies here.
   */
  async rotate(generations: number): Promise<void> {
    if (generations < 1) return;
    const present = new Set(await this.list());
    if (!present.has(this.file)) return;
    for (let g = generations - 1; g >= 1; g--) {
      if (present.has(`${this.file}.${g}`)) await this.fs.rename(this.generation(g), this.generation(g + 1));
    }
    // With one generation nothing was shifted out of the way.
    if (generations === 1 && present.has(`${this.file}.1`)) await this.fs.unlink(this.generation(1));
    await this.fs.link(this.primary, this.generation(1));
  }

  /**
   * Move an unusable primary aside so the next save does not rotate it into
   * the generations and someone can still look at it. Returns what was done,
   * for the load report; never throws, because load must still return the
   * data it recovered even on a read-only directory.
   */
  async quarantine(now: Date): Promise<string> {
    const stamp = now.toISOString().replace(/[:.]/g, "-");
    try {
      const present = new Set(await this.list());
      let name = `${this.file}.corrupt-${stamp}`;
      for (let i = 1; present.has(name); i++) name = `${this.file}.corrupt-${stamp}-${i}`;
      await this.fs.rename(this.primary, join(this.dir, name));
      await this.pruneQuarantine();
      return `moved ${this.primary} aside to ${join(this.dir, name)} for inspection`;
    } catch (err) {
      return `could not move ${this.primary} aside: ${(err as Error).message}`;
    }
  }

  private async pruneQuarantine(): Promise<void> {
    const prefix = `${this.file}.corrupt-`;
    // The timestamp format sorts by name in time order.
    const names = (await this.list()).filter((n) => n.startsWith(prefix)).sort();
    for (const name of names.slice(0, Math.max(0, names.length - MAX_QUARANTINED))) {
      await this.fs.unlink(join(this.dir, name)).catch(() => undefined);
    }
  }

  /** Delete temp files left by saves that died before their rename. */
  async removeLeftoverTemps(): Promise<string[]> {
    const prefix = `${this.file}.tmp-`;
    const removed: string[] = [];
    for (const name of (await this.list()).filter((n) => n.startsWith(prefix))) {
      const path = join(this.dir, name);
      await this.fs.unlink(path).then(
        () => removed.push(path),
        () => undefined,
      );
    }
    return removed;
  }

  private async list(): Promise<string[]> {
    try {
      return await this.fs.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }
}
