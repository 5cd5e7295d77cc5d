/**
 * The portable whisper.cpp build (the images': CPU variants chosen at start, WHISPER_CPU_TARGET=portable) against
 * the native one (tuned for this CPU by a local `npm ci`), same audio, model and threads, in the same run, rounds
 * interleaved so a busy machine colours both sides alike. Prints each side's median, the ratio and the word error
 * rate beside it; never fails.
 *
 *   alsa   human voices: alsa-utils' recordings ("Front Center", ...), one whisper-cli process for all of them
 *   long   a 120 s espeak clip (BENCH_LONG_SECONDS), the encoder's full 30 s windows
 *
 * The portable build is made first if missing (several minutes: one CPU backend per instruction-set level):
 *
 *   WHISPER_CPU_TARGET=portable npx tsx scripts/build-whisper.ts build/whisper.cpp-portable
 *
 *   BENCH_ROUNDS=5                    rounds (time is the median)
 *   BENCH_THREADS=2                   threads for both sides
 *   BENCH_PORTABLE=build/whisper.cpp-portable
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { buildWhisper, whisperBinary, whisperPaths } from '../scripts/build-whisper';
import { engine } from '../test/support/engine';
import { alsaSet, longSet, type SpeechFile } from '../test/support/speech-sets';
import { wordErrorRate } from '../test/support/speech';
import { fixed, median } from './support/stats';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const THREADS = Number(process.env.BENCH_THREADS ?? Math.min(2, availableParallelism()));
const LONG_SECONDS = Number(process.env.BENCH_LONG_SECONDS ?? 120);
const PORTABLE = resolve(process.env.BENCH_PORTABLE ?? 'build/whisper.cpp-portable');

interface Side {
  label: string;
  cli: string;
  times: number[];
  texts: string[];
}

/** One whisper-cli process over `files`, greedy, as the quality benchmark runs it; the seconds and each file's text. */
async function cliRun(cli: string, files: SpeechFile[]): Promise<{ seconds: number; texts: string[] }> {
  const args = ['-m', engine.model, '-t', String(THREADS), '-bs', '1', '-bo', '1', '-np', '-oj', ...files.flatMap((f) => ['-f', f.wav])];
  const started = performance.now();
  await run(cli, args, { maxBuffer: 1 << 24 });
  const seconds = (performance.now() - started) / 1000;
  const texts = await Promise.all(
    files.map(async (file) => {
      const json = JSON.parse(await readFile(`${file.wav}.json`, 'utf8')) as { transcription: { text: string }[] };
      return json.transcription.map((segment) => segment.text).join(' ');
    }),
  );
  return { seconds, texts };
}

/** The backend the portable build loads on this CPU, as whisper-cli reports it. */
async function loadedVariant(cli: string, file: SpeechFile): Promise<string> {
  const { stderr } = await run(cli, ['-m', engine.model, '-t', '1', '-f', file.wav, '-np'], { maxBuffer: 1 << 24 }).catch(
    (error: { stderr?: string }) => ({ stderr: error.stderr ?? '' }),
  );
  return /libggml-cpu-([\w.-]+)\.so/.exec(stderr)?.[1] ?? /CPU : ([^\n]+)/.exec(stderr)?.[1]?.slice(0, 80) ?? 'unknown';
}

async function main(): Promise<void> {
  if (!existsSync(whisperBinary('whisper-cli', PORTABLE))) {
    console.log(`building the portable engine into ${PORTABLE} (several minutes)`);
    await buildWhisper({ build: PORTABLE, cpu: 'portable', log: (line) => console.log(line) });
  }
  const dir = await mkdtemp(join(tmpdir(), 'bench-portable-'));
  try {
    const sets = { alsa: await alsaSet(join(dir, 'alsa')), long: await longSet(join(dir, 'long'), LONG_SECONDS) };
    console.log(`portable build loads: ${await loadedVariant(whisperBinary('whisper-cli', PORTABLE), sets.alsa[0]!)}`);
    for (const [name, files] of Object.entries(sets)) {
      const sides: Side[] = [
        { label: 'native', cli: whisperBinary('whisper-cli', whisperPaths.build), times: [], texts: [] },
        { label: 'portable', cli: whisperBinary('whisper-cli', PORTABLE), times: [], texts: [] },
      ];
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate which side goes first, so neither always runs on a cooler (or hotter) machine.
        for (const side of round % 2 ? [...sides].reverse() : sides) {
          const result = await cliRun(side.cli, files);
          side.times.push(result.seconds);
          side.texts = result.texts;
        }
      }
      const reference = files.map((f) => f.text).join(' ');
      console.log(`\n${name}: ${files.length} file(s), ${ROUNDS} rounds, ${THREADS} threads`);
      for (const side of sides) {
        const wer = wordErrorRate(reference, side.texts.join(' '));
        console.log(
          `  ${side.label.padEnd(9)} median ${fixed(median(side.times), 2, 6)} s  (rounds ${side.times.map((t) => t.toFixed(2)).join(' ')})  WER ${fixed(wer * 100, 1)} %`,
        );
      }
      console.log(`  portable / native: ${(median(sides[1]!.times) / median(sides[0]!.times)).toFixed(3)}`);
    }
    console.log(`\nload average at end ${loadavg()[0]!.toFixed(1)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
