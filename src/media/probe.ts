import { spawn } from 'node:child_process';
import { stat, readFile } from 'node:fs/promises';
import { parseBuffer, parseFile } from 'music-metadata';
import { ffmpegPath } from './ffmpeg';

/** What intake needs to know about a stored file. `null` duration: not audio we can read. */
export interface Probe {
  duration: number | null;
}

/**
 * Measures a file's playing time. music-metadata reads the container headers in-process
 * (fast: no process per file); what it cannot place (odd mp4, headerless streams) goes to
 * ffmpeg, which also tells whether there is an audio stream at all.
 */
export async function probeFile(path: string, knownSize?: number): Promise<Probe> {
  try {
    const options = { duration: true, skipCovers: true };
    // Small files (voice notes) in one read: the file tokenizer would make a thread-pool round trip per header.
    const size = knownSize ?? (await stat(path)).size;
    const metadata =
      size <= SMALL_FILE_BYTES ? await parseBuffer(await readFile(path), undefined, options) : await parseFile(path, options);
    const { duration, hasAudio, numberOfChannels } = metadata.format;
    const audible = hasAudio ?? (numberOfChannels ?? 0) > 0;
    if (duration && Number.isFinite(duration) && duration > 0 && audible) return { duration };
  } catch {
    // fall through to ffmpeg
  }
  return probeWithFfmpeg(path);
}

const FFMPEG_PROBE_TIMEOUT_MS = 30_000;
const SMALL_FILE_BYTES = 8 * 1024 * 1024;

function probeWithFfmpeg(path: string): Promise<Probe> {
  return new Promise((resolve) => {
    const child = spawn(ffmpegPath(), ['-hide_banner', '-nostdin', '-i', path], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < 64_000) stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), FFMPEG_PROBE_TIMEOUT_MS);
    child.on('error', () => resolve({ duration: null }));
    child.on('close', () => {
      clearTimeout(timer);
      const match = /Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(stderr);
      const hasAudio = /Stream #\S+.*: Audio: /.test(stderr);
      if (!match || !hasAudio) return resolve({ duration: null });
      const duration = Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]);
      resolve({ duration: duration > 0 ? duration : null });
    });
  });
}
