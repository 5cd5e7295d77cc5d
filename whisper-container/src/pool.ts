import type { Engine } from './engine';

/**
 * A fixed set of engines shared by every window of every input in a job. On a CPU, several single-threaded
 * engines beat one multi-threaded engine: Whisper's decoder runs one small graph per token, and ggml's threads
 * meet at a spinning barrier after every operation, which costs more than it gains on a small model and collapses
 * when the machine is busy (measured: 5 s with one thread, 37 s with two, same clip, loaded machine).
 * Each engine loads the model once, when the job starts.
 */
export class EnginePool {
  private readonly idle: Engine[] = [];
  private readonly waiting: ((engine: Engine) => void)[] = [];
  private closed = false;
  private busyMs = 0;
  /** How many engines there are: the most windows worth having in flight at once. */
  size = 0;

  private constructor(private readonly start: () => Promise<Engine>) {}

  /** Starts `size` engines in parallel; rejects (and stops those that started) if any cannot start. */
  static async create(size: number, start: () => Promise<Engine>): Promise<EnginePool> {
    const pool = new EnginePool(start);
    const started = await Promise.allSettled(Array.from({ length: Math.max(1, size) }, () => start()));
    const engines = started.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    const failure = started.find((outcome) => outcome.status === 'rejected');
    if (failure) {
      await Promise.all(engines.map((engine) => engine.close()));
      throw (failure as PromiseRejectedResult).reason;
    }
    pool.idle.push(...engines);
    pool.size = engines.length;
    return pool;
  }

  /** Runs `work` on the next free engine. An engine whose process died is replaced before it is handed out. */
  async use<T>(work: (engine: Engine) => Promise<T>): Promise<T> {
    let engine = await this.acquire();
    const started = performance.now();
    try {
      if (!engine.alive) engine = await this.start();
      return await work(engine);
    } finally {
      this.busyMs += performance.now() - started;
      this.release(engine);
    }
  }

  /**
   * Seconds the engines have held work since the pool started, summed over engines. Over `size` x wall time it
   * says how well they are kept fed: an engine waiting for the next window is the overhead this pool exists to cut.
   */
  get busySeconds(): number {
    return this.busyMs / 1000;
  }

  private acquire(): Promise<Engine> {
    if (this.closed) return Promise.reject(new Error('engine pool is closed'));
    const engine = this.idle.pop();
    if (engine) return Promise.resolve(engine);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(engine: Engine): void {
    // Work that ends after `close` brings back an engine no one will use again: it is stopped, not kept.
    if (this.closed) {
      void engine.close().catch(() => undefined);
      return;
    }
    const next = this.waiting.shift();
    if (next) next(engine);
    else this.idle.push(engine);
  }

  /** Stops every engine; call once all work has settled. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.splice(0).map((engine) => engine.close()));
  }
}
