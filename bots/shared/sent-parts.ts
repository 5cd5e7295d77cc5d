import { RecentSet } from './recent';

/**
 * Remembers which pieces of recent replies went out, by part key (`<reply key>#text0`), so the core
 * retrying a half-sent reply does not repeat the pieces the user already has.
 */
export class SentParts {
  private readonly sent = new RecentSet<string>(50_000);

  /** Runs `send` unless this part went out before; the key is remembered only after it worked. */
  async once<T>(partKey: string, send: () => Promise<T>): Promise<T | undefined> {
    if (this.sent.has(partKey)) return undefined;
    const result = await send();
    this.sent.add(partKey);
    return result;
  }
}
