/**
 * Transcript quality beside time: the worker (its entry point, spawned as the runner spawns it) against bare
 * whisper-cli on the same files, model and threads, in the same run, rounds interleaved so a busy machine colours
 * both sides alike. Prints medians, ratios, word error rate and how many files came back with words repeated that
 * the audio does not repeat; never fails.
 *
 *   notes  fifty 5 s espeak voice notes (ogg/opus): one job, one whisper-cli process for all fifty
 *   fox    "the quick brown fox jumps over the lazy dog" said twice in one voice note
 *   alsa   human voices: alsa-utils' recordings ("Front Center", ...) and its noise file
 *   long   the 10-minute espeak clip (16 kHz WAV)
 *
 * whisper-cli runs greedy (`-bs 1 -bo 1`) with the full audio context, and on short sets also with `-ac 320`,
 * the CLI's best setting on short notes.
 *
 *   BENCH_ROUNDS=3             rounds of the short sets (time is the median)
 *   BENCH_LONG_ROUNDS=1        rounds of the long clip (a round there takes minutes on two busy cores)
 *   BENCH_SHOW=1               also print each file the worker and whisper-cli heard differently
 *   BENCH_THREADS=2            threads for both sides (the worker: that many single-threaded engines)
 *   BENCH_SETS=notes,fox,alsa,long
 *   WHISPER_MODEL              another model (name or path) for both sides
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { TranscriptResult } from '../src/domain/transcript';
import { engine } from '../test/support/engine';
import { alsaSet, foxSet, longSet, noteSet, type SpeechFile } from '../test/support/speech-sets';
import { normalizeWords, repeatedPhrases, wordErrorRate } from '../test/support/speech';
import { median } from './support/stats';
import { timed, workerJob } from './support/worker-run';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LONG_ROUNDS = Number(process.env.BENCH_LONG_ROUNDS ?? 1);
const SHOW = process.env.BENCH_SHOW === '1';
const THREADS = Number(process.env.BENCH_THREADS ?? Math.min(2, availableParallelism()));
const SETS = (process.env.BENCH_SETS ?? 'notes,fox,alsa,long').split(',').map((set) => set.trim());

interface Side {
  label: string;
  times: number[];
  texts: string[];
}

const pct = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;

/** Transcripts whisper-cli wrote with `-oj` beside each input (`note.wav.json`). */
async function cliTexts(files: SpeechFile[]): Promise<string[]> {
  return Promise.all(
    files.map(async (file) => {
      const json = JSON.parse(await readFile(`${file.wav}.json`, 'utf8')) as { transcription: { text: string }[] };
      return json.transcription.map((segment) => segment.text).join(' ');
    }),
  );
}

async function cliRun(files: SpeechFile[], extra: string[]): Promise<{ seconds: number; texts: string[] }> {
  const args = [
    '-m',
    engine.model,
    '-t',
    String(THREADS),
    '-bs',
    '1',
    '-bo',
    '1',
    '-np',
    '-oj',
    ...extra,
    ...files.flatMap((file) => ['-f', file.wav]),
  ];
  const { seconds } = await timed(engine.cli, args);
  return { seconds, texts: await cliTexts(files) };
}

function report(name: string, files: SpeechFile[], sides: Side[], rounds: number, loads: [number, number]): void {
  const reference = files.map((file) => file.text).join(' ');
  const base = median(sides[1]!.times);
  console.log(
    `\n${name}: ${files.length} file${files.length > 1 ? 's' : ''}, ${rounds} round${rounds > 1 ? 's' : ''}, ` +
      `load average ${loads[0].toFixed(1)} -> ${loads[1].toFixed(1)}`,
  );
  for (const side of sides) {
    const repeated = files.filter((file, i) => repeatedPhrases(file.text, side.texts[i] ?? '').length > 0);
    const time = median(side.times);
    console.log(
      `   ${side.label.padEnd(34)} ${time.toFixed(2).padStart(7)} s  x${(time / base).toFixed(2)}  ` +
        `WER ${pct(wordErrorRate(reference, side.texts.join(' '))).padStart(7)}  repeated ${repeated.length}` +
        (repeated.length ? `  (${repeated.map((file) => file.name).join(', ')})` : ''),
    );
  }
  if (!SHOW) return;
  for (const [i, file] of files.entries()) {
    const words = (text = '') => normalizeWords(text).join(' ');
    if (words(sides[0]!.texts[i]) === words(sides[1]!.texts[i])) continue;
    console.log(`   ${file.name}: said "${file.text}"`);
    for (const side of sides.slice(0, 2)) console.log(`      ${side.label}: "${side.texts[i]?.trim()}"`);
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'quality-bench-'));
  const blobs = join(dir, 'blobs');
  console.log(
    `model ${relative(process.cwd(), engine.model)}, ${THREADS} threads, ${availableParallelism()} cores, ` +
      `load average at start ${loadavg()[0]!.toFixed(1)}`,
  );
  try {
    const makers: Record<string, () => Promise<SpeechFile[]>> = {
      notes: () => noteSet(join(blobs, 'notes')),
      fox: () => foxSet(join(blobs, 'fox')),
      alsa: () => alsaSet(join(blobs, 'alsa')),
      long: () => longSet(join(blobs, 'long')),
    };
    for (const name of SETS) {
      const files = await makers[name]!();
      const inputs = files.map((file) => ({ key: relative(blobs, file.path), name: file.name }));
      const worker: Side = { label: `worker (${THREADS} engines x 1 thread)`, times: [], texts: [] };
      const cli: Side = { label: `whisper-cli -t ${THREADS}, full context`, times: [], texts: [] };
      const cli320: Side = { label: `whisper-cli -t ${THREADS} -ac 320`, times: [], texts: [] };
      const sides = name === 'long' ? [worker, cli] : [worker, cli, cli320];
      const rounds = name === 'long' ? LONG_ROUNDS : ROUNDS;
      const loadBefore = loadavg()[0]!;
      for (let round = 0; round < rounds; round++) {
        const job = await workerJob(THREADS, dir, inputs, `${name}${round}`, { WHISPER_MODEL: engine.model });
        worker.times.push(job.seconds);
        const full = await cliRun(files, []);
        cli.times.push(full.seconds);
        cli.texts = full.texts;
        if (sides.includes(cli320)) {
          const short = await cliRun(files, ['-ac', '320']);
          cli320.times.push(short.seconds);
          cli320.texts = short.texts;
        }
      }
      worker.texts = await Promise.all(
        inputs.map(
          async (input) => (JSON.parse(await readFile(join(blobs, `${input.key}_result.json`), 'utf8')) as TranscriptResult).text ?? '',
        ),
      );
      report(name, files, sides, rounds, [loadBefore, loadavg()[0]!]);
    }
    console.log(`\nload average at end ${loadavg()[0]!.toFixed(1)} (x = time relative to full-context whisper-cli in the same run)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
