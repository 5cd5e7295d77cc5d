import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { isAbsolute, sep } from 'node:path';
import { pipeline, Readable, Transform } from 'node:stream';
import { TelegramError } from 'telegraf';
import type { Logger } from '../../src/log';
import { AttachmentRefusal } from '../../src/ports/channel';
import { isBadRequest, type BotApi } from './api';

/** Where and how files are fetched from the Bot API. */
export interface FileSource {
  api: BotApi;
  token: string;
  /** Largest file taken; Telegram's own Bot API serves bots at most 20 MB. */
  maxBytes: number;
  /**
   * The self-hosted Bot API server's working directory (`--dir`), as this machine sees it. Only then are
   * absolute `file_path`s read from disk, and only regular files inside it.
   */
  localFilesDir?: string;
  log: Logger;
}

/** Telegram's documented download limit for bots on its own servers. */
export const TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024;

/**
 * Opens a Telegram file as a stream bounded by `maxBytes`. Refuses before downloading when the size is
 * declared; a file that turns out larger fails the stream with the same refusal.
 */
export async function openTelegramFile(source: FileSource, fileId: string, declaredSize?: number): Promise<Readable> {
  if (declaredSize !== undefined && declaredSize > source.maxBytes) throw tooLarge(source.maxBytes);
  let file: { file_path?: string; file_size?: number };
  try {
    file = await source.api.call('getFile', { file_id: fileId });
  } catch (error) {
    // The server's own limit, which is not ours: a Bot API server not in --local mode hands bots 20 MB at most.
    if (isBadRequest(error, /too big/i)) throw tooLarge(Math.min(source.maxBytes, TELEGRAM_DOWNLOAD_LIMIT));
    if (isBadRequest(error, /.*/)) throw new AttachmentRefusal('unavailable', 'Telegram no longer has this file; please send it again.');
    throw error;
  }
  if (file.file_size !== undefined && file.file_size > source.maxBytes) throw tooLarge(source.maxBytes);
  if (!file.file_path) throw new AttachmentRefusal('unavailable', 'Telegram did not hand this file over; please send it again.');
  const body = isAbsolute(file.file_path) ? await openLocal(source, file.file_path) : await download(source, file.file_path);
  const limited = byteLimit(source.maxBytes);
  // pipeline carries a broken connection into the stream intake reads, and a reader giving up back to the socket.
  pipeline(body, limited, () => undefined);
  return limited;
}

/** A self-hosted server in `--local` mode names a file on its disk instead of serving it. */
async function openLocal(source: FileSource, filePath: string): Promise<Readable> {
  if (!source.localFilesDir) {
    source.log.warn('telegram server returned a local file path but no local files directory is configured');
    throw new AttachmentRefusal('unavailable', 'This file cannot be fetched from the Telegram server right now.');
  }
  // Resolve links first, then insist on the server's own directory: the path comes from the network.
  const root = await realpath(source.localFilesDir);
  const resolved = await realpath(filePath).catch(() => undefined);
  if (!resolved || !resolved.startsWith(root + sep)) {
    source.log.warn('telegram server returned a file path outside its directory; refused');
    throw new AttachmentRefusal('unavailable', 'This file cannot be fetched from the Telegram server right now.');
  }
  const handle = await open(resolved, constants.O_RDONLY | constants.O_NOFOLLOW);
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw new AttachmentRefusal('unavailable', 'This file cannot be fetched from the Telegram server right now.');
  }
  if (stat.size > source.maxBytes) {
    await handle.close();
    throw tooLarge(source.maxBytes);
  }
  // The stream owns the handle from here and closes it when done.
  return handle.createReadStream();
}

async function download(source: FileSource, filePath: string): Promise<Readable> {
  const segments = filePath.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new AttachmentRefusal('unavailable', 'This file cannot be fetched from the Telegram server right now.');
  }
  const url = `${source.api.apiRoot.replace(/\/+$/, '')}/file/bot${source.token}/${segments.map(encodeURIComponent).join('/')}`;
  const response = await source.api.retrying('download', async () => {
    const res = await fetch(url);
    if (res.status >= 500) {
      await res.body?.cancel();
      throw new TelegramError({ error_code: res.status, description: res.statusText });
    }
    return res;
  });
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new AttachmentRefusal('unavailable', 'Telegram no longer has this file; please send it again.');
  }
  const length = Number(response.headers.get('content-length') ?? NaN);
  if (length > source.maxBytes) {
    await response.body.cancel();
    throw tooLarge(source.maxBytes);
  }
  return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
}

/** Passes bytes through and fails with a refusal once more than `maxBytes` went by. */
function byteLimit(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > maxBytes) callback(tooLarge(maxBytes));
      else callback(null, chunk);
    },
  });
}

/** The message is a clause that fits the core's "• NAME: reason" refusal lines; `maxBytes` is a real, finite limit. */
function tooLarge(maxBytes: number): AttachmentRefusal {
  const mb = +(maxBytes / (1024 * 1024)).toFixed(1);
  return new AttachmentRefusal('too_large', `larger than the ${mb} MB Telegram lets bots download, so I skipped it`);
}
