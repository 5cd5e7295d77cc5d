/** Resident memory sampled on a timer; `peak` is the highest sample seen since `start`. */
export class RssSampler {
  peak = 0;
  samples = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly everyMs = 50) {}

  start(): void {
    this.peak = process.memoryUsage.rss();
    this.samples = 1;
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  /** Takes a last sample and stops; returns the peak in bytes. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }

  private sample(): void {
    const rss = process.memoryUsage.rss();
    this.samples++;
    if (rss > this.peak) this.peak = rss;
  }
}
