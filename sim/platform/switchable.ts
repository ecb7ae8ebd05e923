/**
 * A platform endpoint that the "down" knob switches off and on. Start and stop
 * transitions run one after another, never interleaved; a failed transition
 * does not block later ones, and its caller still sees the failure.
 */
export abstract class SwitchableEndpoint {
  private transitions: Promise<void> = Promise.resolve();

  protected abstract doStart(): Promise<void>;
  protected abstract doStop(): Promise<void>;

  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  /** Follow the "down" knob: stop when down, start when not. */
  setDown(down: boolean): Promise<void> {
    return down ? this.stop() : this.start();
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.transitions.then(step);
    this.transitions = next.catch(() => undefined);
    return next;
  }
}
