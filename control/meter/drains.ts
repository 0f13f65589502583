/**
 * Answers whose client left mid-stream are still read to their end, to learn the usage
 * to bill; but only so many at once and for so long. Past either cap the read stops and
 * the call is charged its reservation (the most it could have cost): documented, and
 * never less than the platform paid.
 */
export class Drains {
  private active = 0;

  constructor(private readonly settings: { max: number; timeoutMs: number }) {}

  get count(): number {
    return this.active;
  }

  /** Starts draining; `stop` is called at the cap. Returns the release to call when the read ends. */
  enter(stop: () => void): () => void {
    if (this.active >= this.settings.max) {
      stop();
      return () => undefined;
    }
    this.active++;
    const timer = setTimeout(stop, this.settings.timeoutMs);
    timer.unref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      this.active--;
    };
  }
}
