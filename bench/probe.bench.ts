/**
 * What measuring a file costs at intake (`src/media/probe.ts`), beside the header read intake used before
 * (music-metadata, in process, which a forged header fools): a voice note counted from its Opus packets in process,
 * and the ffmpeg decode every other file gets (the first audio track decoded to nothing), with the maintained
 * ffmpeg on PATH and with npm's static build. Voice notes one after another, and a 1-hour Ogg/Opus file (too big
 * to count in memory, so decoded). Prints medians and ratios; never fails.
 *
 *   BENCH_NOTES=20   voice notes of about 5 s
 *   BENCH_ROUNDS=3   rounds over the 1-hour file
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseBuffer, parseFile } from 'music-metadata';
import { bundledFfmpeg, ffmpegPath } from '../src/media/ffmpeg';
import { decodeProbe, probeFile } from '../src/media/probe';
import { shortVoiceNote } from './support/audio';
import { fixed, median } from './support/stats';

const run = promisify(execFile);
const NOTES = Number(process.env.BENCH_NOTES ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MAX_SECONDS = 14_400;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** Today's header read, as intake did it: small files from one buffer, large ones through the file tokenizer. */
async function headerProbe(path: string, small: boolean): Promise<number | undefined> {
  const options = { duration: true, skipCovers: true };
  const metadata = small ? await parseBuffer(await readFile(path), undefined, options) : await parseFile(path, options);
  return metadata.format.duration;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-probe-'));
  try {
    const note = await shortVoiceNote(dir, 'Call me back after lunch, I am in a meeting until two and then at the dentist.');
    const hour = join(dir, 'hour.ogg');
    await run(ffmpegPath(), [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-stream_loop',
      '-1',
      '-i',
      note,
      '-t',
      '3600',
      '-c:a',
      'libopus',
      '-b:a',
      '24k',
      hour,
    ]);
    const binaries = [
      { label: `ffmpeg decode, ${ffmpegPath()}`, ffmpeg: ffmpegPath() },
      { label: 'ffmpeg decode, npm static 4.1', ffmpeg: bundledFfmpeg() },
    ];

    const noteDuration = (await probeFile(note, { maxSeconds: MAX_SECONDS })).duration!;
    console.log(`voice note: ${fixed(noteDuration, 2)} s of ogg/opus, ${NOTES} in a row`);
    const header: number[] = [];
    for (let i = 0; i < NOTES; i++) header.push(await timed(() => headerProbe(note, true)));
    console.log(`  header read (music-metadata)        median ${fixed(median(header), 2, 8)} ms`);
    const counted: number[] = [];
    for (let i = 0; i < NOTES; i++) counted.push(await timed(() => probeFile(note, { maxSeconds: MAX_SECONDS })));
    console.log(
      `  ${'intake: Opus packet count'.padEnd(35)} median ${fixed(median(counted), 2, 8)} ms  (${fixed(median(counted) / median(header), 1)}x the header read)`,
    );
    for (const { label, ffmpeg } of binaries) {
      const times: number[] = [];
      for (let i = 0; i < NOTES; i++) times.push(await timed(() => decodeProbe(note, { maxSeconds: MAX_SECONDS, ffmpeg })));
      console.log(
        `  ${label.padEnd(35)} median ${fixed(median(times), 2, 8)} ms  (${fixed(median(times) / median(header), 0)}x the header read)`,
      );
    }

    console.log(`1-hour ogg/opus file, ${ROUNDS} rounds`);
    const hourHeader: number[] = [];
    for (let i = 0; i < ROUNDS; i++) hourHeader.push(await timed(() => headerProbe(hour, false)));
    console.log(`  header read (music-metadata)        median ${fixed(median(hourHeader), 1, 8)} ms`);
    for (const { label, ffmpeg } of binaries) {
      const times: number[] = [];
      let measured = 0;
      for (let i = 0; i < ROUNDS; i++)
        times.push(await timed(async () => (measured = (await decodeProbe(hour, { maxSeconds: MAX_SECONDS, ffmpeg })).duration!)));
      console.log(
        `  ${label.padEnd(35)} median ${fixed(median(times), 1, 8)} ms  (${fixed(median(times) / median(hourHeader), 0)}x the header read; measured ${fixed(measured, 1)} s, ${fixed((measured * 1000) / median(times), 0)}x real time)`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
