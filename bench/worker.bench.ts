/**
 * The Whisper worker against the bare engine, on this machine's CPU with tiny.en and espeak-ng speech whose text
 * is known. Prints figures and ratios (medians over rounds, runs interleaved so a busy machine colours both sides
 * alike); never fails.
 *
 *   1. Worker (entry point, as the runner spawns it) vs `whisper-cli` on a 10-minute clip: wall time and WER.
 *   2. Worker overhead: the whole job (decode, windows, results) vs the same engines fed the same windows directly.
 *   3. Fifty 5 s voice notes in one job vs one 250 s file of the same speech.
 *   4. Real-time factor and peak RSS (whole process tree), including a 1-hour file.
 *
 *   BENCH_ROUNDS=3        rounds for 1-3
 *   BENCH_THREADS=2       WHISPER_THREADS for both sides
 *   BENCH_HOUR=1          set 0 to skip the 1-hour file
 *   BENCH_PARTS=1,2,3,4   which comparisons to run
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TranscriptResult } from '../src/domain/transcript';
import { LocalBlobStore } from '../src/storage/local-blob-store';
import { modelName } from '../whisper-container/src/config';
import { SAMPLE_RATE } from '../whisper-container/src/decode';
import { ServerEngine } from '../whisper-container/src/engine';
import { runJob } from '../whisper-container/src/job';
import { EnginePool } from '../whisper-container/src/pool';
import { audioContextFor } from '../whisper-container/src/transcribe';
import { wavFile } from '../whisper-container/src/wav';
import { audioWindows } from '../whisper-container/src/windows';
import { engine } from '../test/support/engine';
import { timed, workerJob } from './support/worker-run';
import { ffmpeg, speak, speechText, wordErrorRate } from '../test/support/speech';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const THREADS = Number(process.env.BENCH_THREADS ?? Math.min(2, availableParallelism()));
const HOUR = process.env.BENCH_HOUR !== '0';
const PARTS = new Set((process.env.BENCH_PARTS ?? '1,2,3,4').split(',').map((part) => part.trim()));

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const s = (seconds: number) => `${seconds.toFixed(2)} s`;
const pct = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

async function readResult(store: LocalBlobStore, key: string): Promise<TranscriptResult> {
  return JSON.parse((await store.getBuffer(`${key}_result.json`)).toString('utf8')) as TranscriptResult;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'worker-bench-'));
  const store = new LocalBlobStore(join(dir, 'blobs'));
  const engines = THREADS; // the worker's default for a small model: one single-threaded engine per thread
  console.log(`tiny.en (${modelName(engine.model)}), ${THREADS} threads, ${availableParallelism()} cores, ${ROUNDS} rounds`);

  try {
    // ---- fixtures ------------------------------------------------------------------------------------------
    const tenText = speechText(600, 11);
    await speak(tenText, join(dir, 'ten22.wav'));
    await ffmpeg(['-i', join(dir, 'ten22.wav'), '-ar', '16000', '-ac', '1', join(dir, 'ten.wav')]);
    await mkdir(join(dir, 'blobs', 'b'), { recursive: true });
    await ffmpeg(['-i', join(dir, 'ten.wav'), '-c:a', 'pcm_s16le', '-f', 'wav', store.localPath('b/ten')]);
    const tenSeconds = ((await readFile(join(dir, 'ten.wav'))).length - 44) / 2 / SAMPLE_RATE;

    // ---- 1. worker vs whisper-cli on the 10-minute clip ---------------------------------------------------
    const cliTimes: number[] = [];
    const workerTimes: number[] = [];
    let cliWer = 0;
    let workerWer = 0;
    let cliRss = 0;
    let workerRss = 0;
    for (let round = 0; round < (PARTS.has('1') || PARTS.has('4') ? ROUNDS : 0); round++) {
      const cli = await timed(engine.cli, [
        '-m',
        engine.model,
        '-t',
        String(THREADS),
        '-bs',
        '1',
        '-np',
        '-oj',
        '-of',
        join(dir, 'cli'),
        '-f',
        join(dir, 'ten.wav'),
      ]);
      cliTimes.push(cli.seconds);
      cliRss = Math.max(cliRss, cli.peakRss);
      const cliJson = JSON.parse(await readFile(join(dir, 'cli.json'), 'utf8')) as { transcription: { text: string }[] };
      cliWer = wordErrorRate(tenText, cliJson.transcription.map((segment) => segment.text).join(' '));
      const worker = await workerJob(THREADS, join(dir), [{ key: 'b/ten', name: 'ten.wav' }], `ten${round}`);
      workerTimes.push(worker.seconds);
      workerRss = Math.max(workerRss, worker.peakRss);
      workerWer = wordErrorRate(tenText, (await readResult(store, 'b/ten')).text);
    }
    if (PARTS.has('1')) {
      console.log(`\n1. ${s(tenSeconds)} espeak clip, greedy, same model and threads`);
      console.log(
        `   whisper-cli -bs 1 -t ${THREADS}: ${s(median(cliTimes))}  RTF ${(median(cliTimes) / tenSeconds).toFixed(3)}  WER ${pct(cliWer)}  peak RSS ${mib(cliRss)}`,
      );
      console.log(
        `   worker (${engines} engines x ${Math.max(1, Math.floor(THREADS / engines))} thread): ${s(median(workerTimes))}  RTF ${(median(workerTimes) / tenSeconds).toFixed(3)}  WER ${pct(workerWer)}  peak RSS ${mib(workerRss)}`,
      );
      console.log(
        `   worker / whisper-cli wall time: ${(median(workerTimes) / median(cliTimes)).toFixed(2)}  (goal <= 0.80 at no worse WER)`,
      );
    }

    // ---- 2. worker overhead vs the bare engine on the same windows ------------------------------------------
    const sampleKey = 'b/ten';
    // Raw samples, cut by the worker's own windowing, so both sides send the engine exactly the same audio.
    await ffmpeg(['-i', join(dir, 'ten.wav'), '-f', 's16le', join(dir, 'ten.pcm')]);
    const pcm = await readFile(join(dir, 'ten.pcm'));
    const windows = [];
    for await (const window of audioWindows(
      (async function* () {
        yield pcm;
      })(),
    ))
      windows.push(window);
    const bareTimes: number[] = [];
    const jobTimes: number[] = [];
    for (let round = 0; round < (PARTS.has('2') ? ROUNDS : 0); round++) {
      let started = performance.now();
      const pool = await EnginePool.create(engines, () =>
        ServerEngine.start({ binary: engine.server, model: engine.model, threads: Math.max(1, Math.floor(THREADS / engines)) }),
      );
      const inFlight = windows.map((window) =>
        pool.use((e) =>
          e.transcribe({ wav: wavFile(window.pcm), audioCtx: audioContextFor(window.pcm.length / 2 / SAMPLE_RATE), language: 'en' }),
        ),
      );
      await Promise.all(inFlight);
      await pool.close();
      bareTimes.push((performance.now() - started) / 1000);

      started = performance.now();
      await runJob({ version: 1, jobId: `o${round}`, inputs: [{ key: sampleKey, name: 'ten.wav' }], options: {} }, store, {
        startEngine: () =>
          ServerEngine.start({ binary: engine.server, model: engine.model, threads: Math.max(1, Math.floor(THREADS / engines)) }),
        engines,
        model: 'tiny.en',
      });
      jobTimes.push((performance.now() - started) / 1000);
    }
    if (PARTS.has('2')) {
      console.log(`\n2. overhead on the same ${windows.length} windows (${s(tenSeconds)}), engines started inside both timings`);
      console.log(`   bare engine calls: ${s(median(bareTimes))}   runJob (decode, windows, filters, result): ${s(median(jobTimes))}`);
      console.log(`   overhead: ${pct(median(jobTimes) / median(bareTimes) - 1)}  (goal <= 5 %)`);
    }

    // ---- 3. fifty 5 s notes vs one 250 s file ---------------------------------------------------------------
    if (PARTS.has('3')) {
      await mkdir(join(dir, 'blobs', 'n'), { recursive: true });
      const noteTexts: string[] = [];
      const concatList: string[] = [];
      for (let i = 0; i < 50; i++) {
        const text = speechText(3, 100 + i)
          .split('. ')[0]!
          .replace(/\.?$/, '.');
        noteTexts.push(text);
        const raw = join(dir, `note${i}.wav`);
        await speak(text, raw);
        // Exactly 5 s each, as a voice note would be: speech, then room tone up to the end.
        const note = join(dir, `note${i}-5s.wav`);
        await ffmpeg(['-i', raw, '-ar', '16000', '-ac', '1', '-af', 'apad', '-t', '5', note]);
        await ffmpeg(['-i', note, '-c:a', 'libopus', '-b:a', '24k', '-f', 'ogg', store.localPath(`n/${i}`)]);
        concatList.push(`file '${note}'`);
      }
      await writeFile(join(dir, 'notes.txt'), concatList.join('\n'));
      await ffmpeg([
        '-f',
        'concat',
        '-safe',
        '0',
        '-i',
        join(dir, 'notes.txt'),
        '-c:a',
        'libopus',
        '-b:a',
        '24k',
        '-f',
        'ogg',
        store.localPath('n/long'),
      ]);
      await ffmpeg(['-i', store.localPath('n/long'), '-ar', '16000', '-ac', '1', join(dir, 'notes-long.wav')]);
      const notesTimes: number[] = [];
      const longTimes: number[] = [];
      const cliLongTimes: number[] = [];
      let notesWer = 0;
      let longWer = 0;
      const noteInputs = noteTexts.map((_, i) => ({ key: `n/${i}`, name: `note${i}.ogg` }));
      for (let round = 0; round < ROUNDS; round++) {
        notesTimes.push((await workerJob(THREADS, dir, noteInputs, `notes${round}`)).seconds);
        longTimes.push((await workerJob(THREADS, dir, [{ key: 'n/long', name: 'long.ogg' }], `long${round}`)).seconds);
        // The reference: the bare CLI on the same 250 s file.
        cliLongTimes.push(
          (await timed(engine.cli, ['-m', engine.model, '-t', String(THREADS), '-bs', '1', '-np', '-f', join(dir, 'notes-long.wav')]))
            .seconds,
        );
      }
      const noteResults = await Promise.all(noteInputs.map((input) => readResult(store, input.key)));
      notesWer = wordErrorRate(noteTexts.join(' '), noteResults.map((result) => result.text).join(' '));
      longWer = wordErrorRate(noteTexts.join(' '), (await readResult(store, 'n/long')).text);
      console.log('\n3. 50 voice notes of 5 s (ogg/opus) in one job vs one 250 s file of the same speech, both through the entry point');
      console.log(
        `   50 notes: ${s(median(notesTimes))}  WER ${pct(notesWer)}    one 250 s file: ${s(median(longTimes))}  WER ${pct(longWer)}`,
      );
      console.log(`   notes / file: ${(median(notesTimes) / median(longTimes)).toFixed(2)}  (goal <= 0.70 with no loss of WER)`);
      console.log(
        `   whisper-cli -bs 1 on the 250 s file: ${s(median(cliLongTimes))};  50 notes through the worker / that: ${(median(notesTimes) / median(cliLongTimes)).toFixed(2)}`,
      );
    }

    // ---- 4. RTF and peak RSS, 1-hour file -----------------------------------------------------------------
    if (!PARTS.has('4')) return;
    console.log('\n4. real-time factor and peak RSS (process tree: node, engines, ffmpeg)');
    console.log(`   10-minute clip: RTF ${(median(workerTimes) / tenSeconds).toFixed(3)}, peak RSS ${mib(workerRss)}`);
    if (HOUR) {
      await mkdir(join(dir, 'blobs', 'h'), { recursive: true });
      await ffmpeg([
        '-stream_loop',
        String(Math.ceil(3600 / tenSeconds) - 1),
        '-i',
        join(dir, 'ten.wav'),
        '-t',
        '3600',
        '-c:a',
        'libopus',
        '-b:a',
        '24k',
        '-f',
        'ogg',
        store.localPath('h/hour'),
      ]);
      const hour = await workerJob(THREADS, dir, [{ key: 'h/hour', name: 'hour.ogg' }], 'hour');
      const result = await readResult(store, 'h/hour');
      console.log(
        `   1-hour file (ogg/opus): ${s(hour.seconds)}  RTF ${(hour.seconds / result.duration).toFixed(3)}  peak RSS ${mib(hour.peakRss)} (goal < 600 MiB)  segments ${result.segments.length}`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
