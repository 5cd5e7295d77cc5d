/** Numbers for the per-user flood limit on incoming messages, shared by every channel. */
export interface FloodPolicy {
  /** Messages a user may send in a burst. */
  burst: number;
  /** Messages per minute a user may keep sending after the burst. */
  perMinute: number;
}

/** 20 messages at once, then one every 3 seconds: more than any person sends, less than a script. */
export const defaultFloodPolicy: FloodPolicy = { burst: 20, perMinute: 20 };

/** A token bucket per user; an album counts as one message. */
export class FloodLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();
  private warned = new Map<string, number>();

  constructor(
    private readonly policy: FloodPolicy = defaultFloodPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one message's token; false when the user is over the limit. */
  take(userId: string): boolean {
    const now = this.now();
    const bucket = this.buckets.get(userId) ?? { tokens: this.policy.burst, at: now };
    bucket.tokens = Math.min(this.policy.burst, bucket.tokens + ((now - bucket.at) / 60_000) * this.policy.perMinute);
    bucket.at = now;
    this.buckets.set(userId, bucket);
    if (this.buckets.size > 10_000) this.forgetIdle(now);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** True at most once a minute per user, so a flood gets one warning and not one per message. */
  shouldWarn(userId: string): boolean {
    const now = this.now();
    const last = this.warned.get(userId);
    if (last !== undefined && now - last < 60_000) return false;
    this.warned.set(userId, now);
    if (this.warned.size > 10_000) this.warned.clear();
    return true;
  }

  /** Full buckets hold no information; dropping them keeps memory bounded by active users. */
  private forgetIdle(now: number): void {
    const refillMs = (this.policy.burst / this.policy.perMinute) * 60_000;
    for (const [id, bucket] of this.buckets) if (now - bucket.at >= refillMs) this.buckets.delete(id);
  }
}
