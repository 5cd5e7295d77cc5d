import { pipeline, Readable, Transform } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import { AttachmentRefusal } from '../../src/ports/channel';
import { backoff } from '../../src/retry/backoff';
import type { DcAttachment } from './message';

/** How downloads retry a CDN that answers 5xx or drops the connection. */
export interface DownloadPolicy {
  attempts: number;
  baseDelayMs: number;
}

export const defaultDownloadPolicy: DownloadPolicy = { attempts: 3, baseDelayMs: 500 };

const GONE = 'Discord no longer serves this file; please send it again.';

/**
 * Opens an attachment from its CDN URL as a stream that may not run past the size Discord declared for
 * it, so a wrong or hostile server cannot make intake read more than the limit it already checked.
 */
export async function openAttachment(attachment: DcAttachment, policy: DownloadPolicy = defaultDownloadPolicy): Promise<Readable> {
  const url = new URL(attachment.url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AttachmentRefusal('unavailable', GONE);
  const response = await fetchRetrying(url, policy);
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new AttachmentRefusal('unavailable', GONE);
  }
  const length = Number(response.headers.get('content-length') ?? NaN);
  if (length > attachment.size) {
    await response.body.cancel();
    throw new AttachmentRefusal('unavailable', 'Discord sent a different file than announced; please send it again.');
  }
  const limited = byteLimit(attachment.size);
  // pipeline carries a broken connection into the stream intake reads, and a reader giving up back to the socket.
  pipeline(Readable.fromWeb(response.body as ReadableStream<Uint8Array>), limited, () => undefined);
  return limited;
}

async function fetchRetrying(url: URL, policy: DownloadPolicy): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(url, { redirect: 'follow' });
      if (response.status < 500 || attempt >= policy.attempts) return response;
      await response.body?.cancel();
    } catch (error) {
      if (attempt >= policy.attempts) throw error;
    }
    await sleep(backoff(attempt, policy.baseDelayMs));
  }
}

/** Passes bytes through and fails once more than `maxBytes` went by. */
function byteLimit(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > maxBytes)
        callback(new AttachmentRefusal('unavailable', 'Discord sent more than the announced size; please send it again.'));
      else callback(null, chunk);
    },
  });
}
