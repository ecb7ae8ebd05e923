/**
 * The platform's view of the simulated world: topology.json and knobs.json in
 * the state directory, re-read by polling. Polling (rather than fs.watch)
 * works the same on every filesystem and inside any namespace, and a 200 ms
 * period keeps answers within half a second of a change.
 */
import { EventEmitter } from "node:events";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseTopology, type Topology } from "../topology";
import { KNOBS_FILE, parseKnobs, type Knobs } from "./knobs";

export const TOPOLOGY_FILE = "topology.json";
export const DEFAULT_POLL_MS = 200;

export interface PlatformStateEvents {
  topology: [Topology];
  knobs: [Knobs];
}

/** One watched file: the text last seen, so unchanged files are not re-parsed or re-logged. */
interface Watched {
  file: string;
  seenText: string | undefined;
}

export class PlatformState extends EventEmitter<PlatformStateEvents> {
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly topologyFile: Watched;
  private readonly knobsFile: Watched;

  private constructor(
    readonly stateDir: string,
    public topology: Topology,
    public knobs: Knobs,
    private readonly log: (line: string) => void,
    texts: { topology: string; knobs: string | undefined },
  ) {
    super();
    this.topologyFile = { file: join(stateDir, TOPOLOGY_FILE), seenText: texts.topology };
    this.knobsFile = { file: join(stateDir, KNOBS_FILE), seenText: texts.knobs };
  }

  /** Load both files once (topology.json must exist and be valid), then keep polling. */
  static async open(stateDir: string, log: (line: string) => void, pollMs = DEFAULT_POLL_MS): Promise<PlatformState> {
    const topologyText = await readFile(join(stateDir, TOPOLOGY_FILE), "utf8");
    const topology = parseTopology(JSON.parse(topologyText));
    const knobsText = await readOptional(join(stateDir, KNOBS_FILE));
    const knobs = knobsText === undefined ? {} : parseKnobs(JSON.parse(knobsText));
    const state = new PlatformState(stateDir, topology, knobs, log, { topology: topologyText, knobs: knobsText });
    state.timer = setInterval(() => void state.poll(), pollMs);
    return state;
  }

  /** A topology this process has just written: serve it now, without waiting for the next poll. */
  adoptTopology(topology: Topology, text: string): void {
    this.topology = topology;
    this.topologyFile.seenText = text;
    this.emit("topology", topology);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Re-read both files and emit for whichever changed. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.refresh(this.topologyFile, (text) => {
        // A deleted topology.json is most likely being replaced; keep serving the last one.
        if (text === undefined) return false;
        this.topology = parseTopology(JSON.parse(text));
        this.log(`state: topology reloaded (${this.topology.vms.length} VMs)`);
        this.emit("topology", this.topology);
        return true;
      });
      await this.refresh(this.knobsFile, (text) => {
        // A removed knobs.json means "no faults".
        this.knobs = text === undefined ? {} : parseKnobs(JSON.parse(text));
        this.log(`state: knobs now ${JSON.stringify(this.knobs)}`);
        this.emit("knobs", this.knobs);
        return true;
      });
    } finally {
      this.polling = false;
    }
  }

  /**
   * A file that fails to parse keeps the last good value: the writer may be
   * mid-write, and a later poll sees the finished file. The bad text counts as
   * seen so the complaint is logged once, not five times a second.
   */
  private async refresh(w: Watched, apply: (text: string | undefined) => boolean): Promise<void> {
    let text: string | undefined;
    try {
      text = await readOptional(w.file);
    } catch (err) {
      this.log(`state: cannot read ${w.file}: ${(err as Error).message}`);
      return;
    }
    if (text === w.seenText) return;
    try {
      if (apply(text)) w.seenText = text;
    } catch (err) {
      w.seenText = text;
      this.log(`state: ignoring bad ${w.file}: ${(err as Error).message}`);
    }
  }
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
