import type { Probe } from '../media/probe';

/** Longest single probe (the probe's own default): a 4-hour file decodes well within it. */
const PROBE_TIMEOUT_MS = 300_000;

/** Measuring time one message's files get together unless configured (`PROBE_SECONDS_PER_MESSAGE`). */
export const DEFAULT_PROBE_BUDGET_MS = 600_000;

/**
 * The measuring time one message's files get together. Each probe may use what is left (at most
 * `PROBE_TIMEOUT_MS`); once it is spent, the remaining files are refused unmeasured, so twenty slow files in one
 * message cannot hold an intake slot for twenty times a probe's limit.
 */
export class ProbeBudget {
  private leftMs: number;

  constructor(readonly totalMs: number) {
    this.leftMs = totalMs;
  }

  /** Runs `probe` with the time left as its limit, and takes the time it used off the budget. */
  async measure(probe: (timeoutMs: number) => Promise<Probe>): Promise<Probe> {
    if (this.leftMs <= 0) return { duration: null, timedOut: true };
    const started = Date.now();
    try {
      return await probe(Math.min(PROBE_TIMEOUT_MS, this.leftMs));
    } finally {
      this.leftMs -= Date.now() - started;
    }
  }
}
