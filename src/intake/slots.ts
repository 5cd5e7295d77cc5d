/** At most `size` tasks run at once; the rest wait in arrival order, and a freed slot passes straight to the next. */
export class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  /** Runs `work` once a slot is free. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active < this.size) this.active += 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      // Handed on rather than freed, so a newcomer cannot overtake the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}

/** One task at a time per key, in arrival order; keys do not wait for each other. */
export class OneAtATime {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `work` once every earlier task under `key` has finished. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    let done!: () => void;
    const tail = new Promise<void>((resolve) => (done = resolve));
    this.tails.set(key, tail);
    try {
      await previous;
      return await work();
    } finally {
      done();
      // The last in line cleans up, so the map holds only keys with work in hand.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
