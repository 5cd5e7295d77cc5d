import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { text } from '../messages';
import type { NewFile } from '../orders/lifecycle';
import { isMediaFile } from '../media/media-types';
import { probeFile, type Probe, type ProbeOptions } from '../media/probe';
import { DEFAULT_PROBE_BUDGET_MS, ProbeBudget } from './probe-budget';
import { DownloadStalled, openGuarded, type StallGuard } from './stall-guard';
import { Slots } from './slots';

const unboundedProbes = new Slots(Number.POSITIVE_INFINITY);
/** PLATFORM_CALL_TIMEOUT_SECONDS' default: a platform call that gets no answer for this long is abandoned. */
const DEFAULT_DOWNLOAD_IDLE_MS = 30_000;
import { BlobTooLargeError, type BlobStore } from '../ports/blob-store';
import { AttachmentRefusal, type IncomingAttachment } from '../ports/channel';

/**
 * Streams one attachment into the store (never whole in memory), enforcing the byte limit while
 * it flows, then measures it, and returns the file as the order records it. Refusals (not audio or video by its declared type, too large, not audio, no sound
 * track, too long) come back as data, so one
 * bad file does not stop the others; only unexpected errors (disk full) throw.
 */
export async function storeAttachment(input: {
  store: BlobStore;
  attachment: IncomingAttachment;
  name: string;
  position: number;
  key: string;
  limits: { maxFileBytes: number; maxFileSeconds: number };
  /** Probes running at once, over all messages: each is an ffmpeg decode taking a core. Unbounded when absent. */
  probeSlots?: Slots;
  /** This message's measuring time, shared by its files; one probe's limit when absent. */
  budget?: ProbeBudget;
  /** How long the download may send nothing (PLATFORM_CALL_TIMEOUT_SECONDS); 30 s when absent. */
  downloadIdleMs?: number;
}): Promise<NewFile> {
  const { store, attachment, name, position, key, limits } = input;
  const {
    probeSlots = unboundedProbes,
    budget = new ProbeBudget(DEFAULT_PROBE_BUDGET_MS),
    downloadIdleMs = DEFAULT_DOWNLOAD_IDLE_MS,
  } = input;
  const base = { position, name, key, bytes: 0, duration: null };
  // A file that says it is something else (an image, a PDF, text) is named and refused unread: no download, no decoder.
  if (!isMediaFile(attachment.mimeType, attachment.name)) return { ...base, refusal: text.refusals.notAudio };
  if (attachment.size !== undefined && attachment.size > limits.maxFileBytes) {
    return { ...base, refusal: text.refusals.tooLarge(limits.maxFileBytes) };
  }
  let bytes: number;
  let body: StallGuard | undefined;
  try {
    body = await openGuarded(() => attachment.open(), downloadIdleMs);
    ({ bytes } = await store.put(key, body, { maxBytes: limits.maxFileBytes, contentType: attachment.mimeType }));
  } catch (error) {
    // Whatever went wrong, the connection is closed here rather than left to the platform's own timeout.
    body?.destroy();
    // The store may wrap the stream's error (an S3 upload does): the guard itself knows whether it gave up.
    if (error instanceof DownloadStalled || body?.stalled) return { ...base, refusal: text.refusals.stalled(downloadIdleMs / 1000) };
    if (error instanceof BlobTooLargeError) return { ...base, refusal: text.refusals.tooLarge(limits.maxFileBytes) };
    // The adapter knows its platform's limit and phrases the clause itself.
    if (error instanceof AttachmentRefusal) return { ...base, refusal: error.message || text.refusals.unavailable };
    throw error;
  }
  // The decoded length, never a header's or the platform's figure: it is what gets charged and transcribed.
  const { duration, tooLong, noSound, timedOut } = await probeSlots.run(() =>
    budget.measure((timeoutMs) => probeStored(store, key, { maxSeconds: limits.maxFileSeconds, timeoutMs })),
  );
  if (timedOut) return { ...base, bytes, refusal: text.refusals.notMeasured(budget.totalMs / 1000) };
  if (noSound) return { ...base, bytes, refusal: text.refusals.noSound };
  if (duration === null) return { ...base, bytes, refusal: text.refusals.notAudio };
  if (tooLong || duration > limits.maxFileSeconds)
    return { ...base, bytes, duration, refusal: text.refusals.tooLong(limits.maxFileSeconds) };
  return { ...base, bytes, duration };
}

/** Probes in place for a local store; otherwise through a temporary local copy (S3). */
async function probeStored(store: BlobStore, key: string, options: ProbeOptions): Promise<Probe> {
  if (store.localPath) return probeFile(store.localPath(key), options);
  const dir = await mkdtemp(join(tmpdir(), 'probe-'));
  try {
    const path = join(dir, 'media');
    await pipeline(await store.get(key), createWriteStream(path));
    return await probeFile(path, options);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
