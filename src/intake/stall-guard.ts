import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';

/** A download that sent nothing for the idle limit while its reader waited. */
export class DownloadStalled extends Error {
  constructor(readonly idleMs: number) {
    super(`the download sent nothing for ${idleMs / 1000} s`);
    this.name = 'DownloadStalled';
  }
}

/**
 * Passes a download through and fails it with `DownloadStalled` when no bytes come for `idleMs` while the reader
 * is asking for more. Time the reader itself takes (a slow disk or bucket) does not count: only a platform that
 * stops sending holds a user's intake turn, and that must not last until a restart.
 */
export class StallGuard extends Transform {
  private timer?: NodeJS.Timeout;
  stalled = false;

  constructor(private readonly idleMs: number) {
    super();
  }

  override _read(size: number): void {
    // The reader wants more: from now on, waiting is the sender's doing.
    this.arm();
    super._read(size);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.disarm();
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.disarm();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.disarm();
    callback(error);
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.stalled = true;
      this.destroy(new DownloadStalled(this.idleMs));
    }, this.idleMs);
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Opens a download with `open` and guards it: the opening itself (headers that never come) and every later
 * pause get `idleMs`. A stream that opens too late is destroyed, so its connection is not left behind.
 */
export async function openGuarded(open: () => Promise<Readable>, idleMs: number): Promise<StallGuard> {
  const opening = open();
  let timer: NodeJS.Timeout | undefined;
  const tooLate = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DownloadStalled(idleMs)), idleMs);
  });
  let body: Readable;
  try {
    body = await Promise.race([opening, tooLate]);
  } catch (error) {
    if (error instanceof DownloadStalled)
      opening.then(
        (late) => late.destroy(),
        () => undefined,
      );
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const guard = new StallGuard(idleMs);
  // pipeline carries either side's failure to the other: a stall closes the connection, a broken connection fails the guard.
  pipeline(body, guard, () => undefined);
  return guard;
}
