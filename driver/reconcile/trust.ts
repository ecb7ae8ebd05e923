/**
 * Whether the plugin may trust its checkpoint. One recovered from an older
 * generation (or none, after damage) may lack addresses handed out since, so
 * until Docker has confirmed which containers hold which addresses the
 * plugin hands out none, adopts what Docker has, and removes nothing from the
 * kernel that its records do not explain. The flag is saved in the
 * checkpoint, so a restart in between stays just as careful.
 */
import type { Checkpoint } from "../checkpoint";
import type { Logger } from "../log";

export const HELD_BACK =
  "azure-vnet found its state file damaged and is rebuilding it from Docker before handing out addresses; retry in a few seconds (see the plugin log)";

export class StateTrust {
  private trusted: boolean;

  constructor(
    private readonly checkpoint: Checkpoint,
    loaded: { problems: readonly string[]; source: string },
    logger: Logger,
  ) {
    this.trusted = checkpoint.trusted !== false && !(loaded.problems.length > 0 && loaded.source !== "primary");
    if (this.trusted) return;
    checkpoint.trusted = false;
    logger.warn("checkpoint damaged: new addresses are held back until Docker confirms which are in use", { source: loaded.source });
  }

  get verified(): boolean {
    return this.trusted;
  }

  /** For the IPAM: a reason to refuse a container address, or undefined. */
  readonly admission = (): string | undefined => (this.trusted ? undefined : HELD_BACK);

  /** Docker has confirmed the state (the caller saves the checkpoint). */
  confirm(): void {
    this.trusted = true;
    delete this.checkpoint.trusted;
  }
}
