/** Owns the checkpoint on disk: durable saves, generations, and loading with recovery. */
import { PluginError, errorMessage } from "../errors";
import { AsyncMutex } from "../lib/serial";
import { DEFAULT_BOOT_ID_PATH, readBootId } from "./boot";
import { type Writer, canonicalJson, decodeEnvelope, encodeEnvelope } from "./envelope";
import { CheckpointFiles } from "./files";
import { type StateFs, nodeStateFs } from "./fs";

export interface CheckpointStoreOptions<T> {
  dir: string;
  /** File name inside `dir`; default "state.json". */
  file?: string;
  /** The schema this code writes; files with a lower number go through `migrate`. */
  schemaVersion: number;
  /** Turns a parsed document into T; throws when the content is wrong. */
  validate: (doc: unknown) => T;
  /** Upgrades a document written with an older schema to `schemaVersion`. */
  migrate?: (doc: unknown, fromVersion: number) => unknown;
  /** This program, recorded in every file it writes and named when it meets a file of a newer schema. */
  writer?: Writer;
  /** How many previous versions to keep (state.json.1 …); default 3. */
  generations?: number;
  /** Where to read the kernel's boot id; tests point this at a temp file. */
  bootIdPath?: string;
  fs?: StateFs;
  now?: () => Date;
  /**
   * Told when a save is in place but its directory entry could not be
   * fsynced: the save counts as done (memory and the file agree), but may
   * not survive a power loss.
   */
  onDurabilityWarning?: (message: string) => void;
  /** How long saveSoon() may wait for a save() to carry its change; default 250 ms. */
  deferMs?: number;
  /** Told when a deferred save fails (nobody waits for it). */
  onDeferredFailure?: (err: unknown) => void;
  /**
   * For callers that save one live object: the data is serialised when its
   * write starts rather than at each save(), so a crowd of saves merged into
   * one write costs one serialisation, and the write holds every change made
   * until it starts. Off, each save() writes the data as it was at the call.
   */
  serializeAtWrite?: boolean;
}

export type LoadSource = "primary" | `generation-${number}` | "none";

export interface LoadResult<T> {
  data: T | undefined;
  source: LoadSource;
  /** One line per thing that was wrong and what was done about it. */
  problems: string[];
  /** The current boot's id ("" when the kernel does not expose one). */
  bootId: string;
  /** The data was written before the current boot: kernel state is gone. */
  rebooted: boolean;
  writtenAt: string | undefined;
  /** The schema the data was migrated from, when it was. */
  migratedFrom: number | undefined;
}

interface PendingSave {
  /** Serialised at the call, or (serializeAtWrite) undefined until the write starts. */
  canonical?: string;
  data: unknown;
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}

type Verdict<T> =
  | { ok: true; data: T; bootId: string; writtenAt: string; migratedFrom?: number }
  | { ok: false; problem: string; newer?: { schema: number; writer: Writer | undefined } };

/**
 * A checkpoint written by a newer version, with a schema this one cannot read.
 * Loading stops instead of falling back to older files, and nothing is written:
 * the newer version's state stays as it was for when it runs again.
 */
export class NewerCheckpointError extends PluginError {
  constructor(
    readonly path: string,
    readonly schema: number,
    readonly writer: Writer | undefined,
    current: number,
    self: Writer | undefined,
  ) {
    const by = writer ? `azure-vnet ${writer.version} (commit ${writer.commit})` : "a newer azure-vnet";
    const me = self ? `azure-vnet ${self.version} (commit ${self.commit})` : "azure-vnet of an unknown version";
    super(
      `${path} was written by ${by} with checkpoint schema ${schema}; this is ${me} with schema ${current}, which cannot read it. ` +
        `Upgrade the plugin to ${writer ? `${writer.version} or later` : "the version that wrote it"}, ` +
        `or restore a checkpoint this version wrote (move ${path} aside and put a state.json from a backup in its place); the file was left as it is.`,
      "unavailable",
    );
    this.name = "NewerCheckpointError";
  }
}

/**
 * A JSON checkpoint that survives crashes: every save is written to a temp
 * file, fsynced and renamed into place, the previous versions are kept, and
 * load() falls back to them instead of failing when the newest is damaged.
 */
export class CheckpointStore<T> {
  readonly path: string;
  private readonly files: CheckpointFiles;
  private readonly fs: StateFs;
  private readonly generations: number;
  private readonly now: () => Date;
  private readonly mutex = new AsyncMutex();
  private pending: PendingSave | undefined;
  private draining = false;
  private tempSeq = 0;
  private bootIdRead: Promise<string> | undefined;
  /** A change that need not be durable before its caller answers, waiting for the next write. */
  private deferred: { data: T; timer: NodeJS.Timeout } | undefined;

  constructor(private readonly opts: CheckpointStoreOptions<T>) {
    const file = opts.file ?? "state.json";
    if (file === "" || file.includes("/")) throw new TypeError(`state file name must be a plain name, got "${file}"`);
    if (!Number.isInteger(opts.schemaVersion) || opts.schemaVersion < 1) {
      throw new TypeError(`schemaVersion must be a positive integer, got ${opts.schemaVersion}`);
    }
    this.generations = opts.generations ?? 3;
    if (!Number.isInteger(this.generations) || this.generations < 0) {
      throw new TypeError(`generations must be a non-negative integer, got ${this.generations}`);
    }
    this.fs = opts.fs ?? nodeStateFs;
    this.now = opts.now ?? (() => new Date());
    this.files = new CheckpointFiles(opts.dir, file, this.fs);
    this.path = this.files.primary;
  }

  /**
   * Saves `data`. Saves are applied one at a time in call order; saves that
   * queue up behind a running write are merged into one write of the newest
   * data (each caller's promise settles when data at least as new as its own
   * is on disk). Throws PluginError("unavailable") when the write fails; the
   * previous file is then left as it was.
   */
  save(data: T): Promise<void> {
    // Callers hand in the live object: this write carries any deferred change too.
    this.cancelDeferred();
    let canonical: string | undefined;
    try {
      if (!this.opts.serializeAtWrite) canonical = canonicalJson(data);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.pending ??= { canonical, data, waiters: [] };
      this.pending.canonical = canonical;
      this.pending.data = data;
      this.pending.waiters.push({ resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  /**
   * Saves `data` within `deferMs`, or sooner with the next save(), so that
   * changes whose loss reconciliation repairs (a release) share the fsync of
   * the next change that must be durable before its reply (an allocation).
   * Never rejects; a failure goes to onDeferredFailure.
   */
  saveSoon(data: T): void {
    if (this.deferred) {
      this.deferred.data = data;
      return;
    }
    const timer = setTimeout(() => void this.flush(), this.opts.deferMs ?? 250);
    this.deferred = { data, timer };
  }

  /** Writes a deferred change now (shutdown); resolves when it is on disk or has failed. */
  async flush(): Promise<void> {
    const d = this.deferred;
    if (!d) return;
    await this.save(d.data).catch((err: unknown) => this.opts.onDeferredFailure?.(err));
  }

  private cancelDeferred(): void {
    if (!this.deferred) return;
    clearTimeout(this.deferred.timer);
    this.deferred = undefined;
  }

  private async drain(): Promise<void> {
    this.draining = true;
    while (this.pending) {
      const batch = this.pending;
      this.pending = undefined;
      try {
        await this.mutex.runExclusive(() => this.write(batch.canonical ?? canonicalJson(batch.data)));
        for (const w of batch.waiters) w.resolve();
      } catch (err) {
        for (const w of batch.waiters) w.reject(err);
      }
    }
    this.draining = false;
  }

  private async write(canonical: string): Promise<void> {
    const temp = this.files.temp(++this.tempSeq);
    let replaced = false;
    try {
      await this.fs.mkdirp(this.opts.dir);
      const text = encodeEnvelope(this.opts.schemaVersion, await this.bootId(), this.now(), canonical, this.opts.writer);
      await this.fs.writeFileDurable(temp, text);
      // Rotate only once the new version is safely in the temp file, so a
      // failed write never costs a generation.
      await this.files.rotate(this.generations);
      await this.fs.rename(temp, this.path);
      replaced = true;
      await this.syncDirectory();
    } catch (err) {
      if (!replaced) await this.fs.unlink(temp).catch(() => undefined);
      throw saveError(this.path, this.opts.dir, err);
    }
  }

  /**
   * Once the rename is done, every reader sees the new file: failing the
   * save now would make the caller undo in memory what is already on disk.
   * So a failed directory fsync is tried once more, then reported, and the
   * save stands.
   */
  private async syncDirectory(): Promise<void> {
    try {
      await this.fs.fsyncDir(this.opts.dir);
    } catch {
      try {
        await this.fs.fsyncDir(this.opts.dir);
      } catch (err) {
        this.opts.onDurabilityWarning?.(
          `${this.path} was saved, but fsync of ${this.opts.dir} failed (${errorMessage(err)}): the save may not survive a power loss`,
        );
      }
    }
  }

  /**
   * Reads the newest usable version. Bad content never throws: it is
   * reported in `problems`, the damaged primary is quarantined and older
   * generations are tried. Throws NewerCheckpointError when the newest
   * readable file is of a newer schema (nothing is moved or written), and
   * PluginError on I/O errors other than ENOENT.
   */
  load(): Promise<LoadResult<T>> {
    return this.mutex.runExclusive(() => this.loadExclusive());
  }

  private async loadExclusive(): Promise<LoadResult<T>> {
    const bootId = await this.bootId();
    const problems = (await this.files.removeLeftoverTemps()).map(
      (p) => `removed ${p}, left by a save that was interrupted before it completed`,
    );
    const candidates = [this.path];
    for (let g = 1; g <= this.generations; g++) candidates.push(this.files.generation(g));

    let primaryState: "ok" | "missing" | "unusable" = "ok";
    let found: { index: number; verdict: Verdict<T> & { ok: true } } | undefined;
    for (const [index, path] of candidates.entries()) {
      const bytes = await this.readIfPresent(path);
      if (bytes === undefined) {
        if (index === 0) primaryState = "missing";
        continue;
      }
      const verdict = this.judge(bytes);
      if (!verdict.ok && verdict.newer) {
        throw new NewerCheckpointError(path, verdict.newer.schema, verdict.newer.writer, this.opts.schemaVersion, this.opts.writer);
      }
      if (verdict.ok) {
        found = { index, verdict };
        break;
      }
      problems.push(`${path} ${verdict.problem}`);
      if (index === 0) primaryState = "unusable";
    }

    if (primaryState === "unusable") problems.push(await this.files.quarantine(this.now()));
    if (!found) {
      if (problems.length > 0) problems.push("no usable saved state was found; starting with none");
      return { data: undefined, source: "none", problems, bootId, rebooted: false, writtenAt: undefined, migratedFrom: undefined };
    }

    const { index, verdict } = found;
    if (index > 0) {
      if (primaryState === "missing") problems.push(`${this.path} does not exist`);
      problems.push(
        `recovered from ${candidates[index]} (written ${verdict.writtenAt || "at an unknown time"}); changes saved after it are lost`,
      );
    }
    return {
      data: verdict.data,
      source: index === 0 ? "primary" : `generation-${index}`,
      problems,
      bootId,
      rebooted: bootId !== "" && verdict.bootId !== "" && bootId !== verdict.bootId,
      writtenAt: verdict.writtenAt || undefined,
      migratedFrom: verdict.migratedFrom,
    };
  }

  /** Decides whether one file's bytes are usable; the problem text completes "<path> …". */
  private judge(bytes: Buffer): Verdict<T> {
    const decoded = decodeEnvelope(bytes, this.opts.schemaVersion);
    if (!decoded.ok) return decoded;
    const { schema, data, bootId, writtenAt } = decoded.envelope;
    const current = this.opts.schemaVersion;
    let doc = data;
    let migratedFrom: number | undefined;
    if (schema < current) {
      if (!this.opts.migrate) return bad(`has schema ${schema}, older than ${current}, and there is no migration from it`);
      try {
        doc = this.opts.migrate(data, schema);
        migratedFrom = schema;
      } catch (err) {
        return bad(`has schema ${schema} and could not be migrated to ${current}: ${errorMessage(err)}`);
      }
    }
    try {
      return { ok: true, data: this.opts.validate(doc), bootId, writtenAt, migratedFrom };
    } catch (err) {
      return bad(`failed validation: ${errorMessage(err)}`);
    }
  }

  private async readIfPresent(path: string): Promise<Buffer | undefined> {
    try {
      return await this.fs.readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new PluginError(`cannot read plugin state ${path}: ${errorMessage(err)}`, "unavailable");
    }
  }

  private bootId(): Promise<string> {
    // The boot id cannot change while this process lives.
    this.bootIdRead ??= readBootId(this.fs, this.opts.bootIdPath ?? DEFAULT_BOOT_ID_PATH);
    return this.bootIdRead;
  }
}

function bad(problem: string): { ok: false; problem: string } {
  return { ok: false, problem };
}

function saveError(path: string, dir: string, err: unknown): PluginError {
  const code = (err as NodeJS.ErrnoException).code;
  let detail = errorMessage(err);
  if (code && !detail.includes(code)) detail = `${code}: ${detail}`;
  return new PluginError(
    `cannot save plugin state to ${path} (${detail}); the previous state file is unchanged. Check that ${dir} is writable and has free space.`,
    "unavailable",
  );
}
