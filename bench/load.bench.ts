/**
 * The service under a burst, through the loopback Telegram server with Telegram's flood limits enforced (429 with
 * `retry_after`): the warm runner with paced sends against the process-per-order runner with unpaced sends (the
 * service as it was), side by side in one run. Prints figures and ratios; never fails.
 *
 *   1. Burst: USERS users each send NOTES voice notes of about 1.4 s and /balance at once. Time to the last
 *      transcript, transcripts delivered (each exactly once?), sends answered 429, engine busy % (the time the
 *      engines held work, from the runner's `transcribe_engine_busy_seconds_total`, over engines x wall time; the
 *      warm runner only), engine CPU % (engine CPU time over threads x wall time: on a machine the service shares,
 *      what the rest of the service leaves the engines), peak RSS of the whole process tree, service-path CPU
 *      seconds per note.
 *   2. One 5 s note on an idle service, message to transcript: median of IDLE rounds.
 *   3. The bare engine on the same notes: the worker's own transcription (`transcribeFile`) of each note's WAV on
 *      one engine, without the service, runner or decoder: the engine's CPU seconds per note, second readings
 *      included, the floor the service-path cost is compared with; and a single reading per note beside it.
 *
 *   LOAD_USERS=100  LOAD_NOTES=3  LOAD_IDLE=20  LOAD_IDLE_BASELINE=5  LOAD_THREADS=2
 *   LOAD_BASELINE_CAP=180   seconds the process-per-order burst may take before it is cut off and counted
 *   LOAD_PARTS=1,2,3        which parts to run
 *   LOAD_MODES=warm,today   which services to run (the baseline alone takes LOAD_BASELINE_CAP)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inArray } from 'drizzle-orm';
import pino from 'pino';
import { createTelegramChannel } from '../bots/telegram';
import { Service } from '../src/app/service';
import { orders } from '../src/db/schema';
import { loadConfig } from '../src/config';
import type { Runner } from '../src/ports/runner';
import { runnerMetrics } from '../src/runner/metrics';
import { ProcessPerJobRunner } from '../src/runner/process-runner';
import { FakeTelegram } from '../test/support/fake-telegram';
import { spokenFile } from '../test/support/audio';
import { ffmpeg } from '../test/support/speech';
import { ServerEngine } from '../whisper-container/src/engine';
import { EnginePool } from '../whisper-container/src/pool';
import { audioContextFor, transcribeFile } from '../whisper-container/src/transcribe';
import { fixed, median, mib } from './support/stats';

const USERS = Number(process.env.LOAD_USERS ?? 100);
const NOTES = Number(process.env.LOAD_NOTES ?? 3);
const IDLE = Number(process.env.LOAD_IDLE ?? 20);
/** The process-per-order service takes about half a minute a note: fewer rounds of it. */
const IDLE_BASELINE = Number(process.env.LOAD_IDLE_BASELINE ?? 5);
const THREADS = Number(process.env.LOAD_THREADS ?? Math.min(2, availableParallelism()));
const BASELINE_CAP_S = Number(process.env.LOAD_BASELINE_CAP ?? 180);
const PARTS = new Set((process.env.LOAD_PARTS ?? '1,2,3').split(',').map((p) => p.trim()));
const MODES = (process.env.LOAD_MODES ?? 'warm,today').split(',').map((m) => m.trim()) as Mode[];
const MODEL = resolve('data/models/ggml-tiny.en.bin');
const SERVER = resolve('build/whisper.cpp/bin/whisper-server');
const TICK_S = 100; // clock ticks per second in /proc/*/stat
/** Short phrases, about 1.4 s each when spoken. */
const PHRASES = ['Call me back later.', 'See you at noon.', 'Bring the red folder.', 'The bus is late.', 'Thanks for dinner.'];
const FIVE_SECONDS = 'Please send the quarterly report to the finance team before Friday.';

type Mode = 'today' | 'warm';
const LABEL: Record<Mode, string> = { today: 'process per order, unpaced', warm: 'warm workers, paced' };

interface Sample {
  peakRss: number;
  engineCpu: Map<number, number>;
  /** CPU seconds of the warm workers (their Node processes, not their engines), per pid. */
  workerCpu: Map<number, number>;
}

/** Every process of this data dir (they inherit DATA_DIR) plus this one: RSS summed, whisper-server CPU kept per pid. */
function sampleTree(dataDir: string, into: Sample): void {
  let rss = process.memoryUsage.rss();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`DATA_DIR=${dataDir}`)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      rss += Number(stat[21]) * 4096;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const cpu = (Number(stat[11]) + Number(stat[12])) / TICK_S;
      if (cmdline.includes('whisper-server')) into.engineCpu.set(Number(pid), cpu);
      else if (cmdline.includes('serve.ts')) into.workerCpu.set(Number(pid), cpu);
    } catch {
      // gone meanwhile
    }
  }
  into.peakRss = Math.max(into.peakRss, rss);
}

/** CPU seconds of this process and of its children already waited for (workers, and through them engines and ffmpeg). */
function treeCpu(): number {
  const own = process.cpuUsage();
  const stat = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (own.user + own.system) / 1e6 + (Number(stat[13]) + Number(stat[14])) / TICK_S;
}

interface Bench {
  telegram: FakeTelegram;
  service: Service;
  dataDir: string;
  stop(): Promise<void>;
}

async function startService(mode: Mode): Promise<Bench> {
  const telegram = await new FakeTelegram({ floodLimits: true }).start();
  const dataDir = await mkdtemp(join(tmpdir(), `bench-load-${mode}-`));
  const config = loadConfig({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    WHISPER_MODEL: MODEL,
    WHISPER_THREADS: String(THREADS),
    LOG_LEVEL: 'warn',
    NEW_USER_FREE_SECONDS: '600',
  });
  const log = pino({ level: 'warn', base: undefined }, pino.destination({ dest: '/dev/null', sync: false }));
  const channel = createTelegramChannel({
    token: telegram.token,
    apiRoot: telegram.url,
    log,
    polling: { timeoutSeconds: 1 },
    // The service as it was sent as fast as it could and retried the 429s.
    ...(mode === 'today' ? { sendLimits: { perSecond: 1e6, chatIntervalMs: 0, groupIntervalMs: 0 } } : {}),
  });
  const workerEnv = { STORAGE: 'local', DATA_DIR: dataDir, WHISPER_MODEL: MODEL, WHISPER_THREADS: String(THREADS), LOG_LEVEL: 'warn' };
  const runner: Runner | undefined =
    mode === 'today' ? new ProcessPerJobRunner({ jobsDir: join(dataDir, 'jobs'), workerEnv, concurrency: 1, log }) : undefined;
  const service = new Service(config, { channels: [channel], runner }, log);
  await service.start();
  return {
    telegram,
    service,
    dataDir,
    async stop() {
      await service.stop();
      await telegram.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function voiceOf(telegram: FakeTelegram, path: string, duration: number): Promise<Record<string, unknown>> {
  const content = await readFile(path);
  const file = telegram.addFile(content, `voice/file_${Math.random().toString(36).slice(2)}.oga`);
  return { file_id: file.file_id, file_unique_id: file.file_unique_id, duration, mime_type: 'audio/ogg', file_size: content.length };
}

/** Transcripts sent, by the message they answer: one `_result.json` document each. */
function transcripts(telegram: FakeTelegram): Map<number, number> {
  const count = new Map<number, number>();
  for (const m of telegram.sent) {
    if (m.method === 'sendDocument' && m.document?.filename.endsWith('_result.json') && m.reply_to)
      count.set(m.reply_to, (count.get(m.reply_to) ?? 0) + 1);
  }
  return count;
}

interface BurstFigures {
  seconds: number;
  cut: boolean;
  delivered: number;
  duplicates: number;
  sends: number;
  refused: number;
  /** Engines holding work over engines x wall time (warm runner only). */
  engineHeld?: number;
  /** The same until the last transcription. */
  engineHeldWhileWork?: number;
  engineBusy: number;
  /** Seconds from the burst to the last transcription (the engines' part; the sends go on after it). */
  transcribedIn: number;
  /** Engine busy over that part: whether the engines were kept fed while there was work. */
  engineBusyWhileWork: number;
  peakRss: number;
  cpuPerNote: number;
  /** The engines' CPU seconds per note in the burst: what the service spent transcribing, second readings included. */
  engineCpuPerNote: number;
  /** The warm workers' own CPU seconds per note (decoding, results; not their engines). */
  workerCpuPerNote: number;
}

async function burst(mode: Mode, notes: string[]): Promise<BurstFigures> {
  const bench = await startService(mode);
  const { telegram } = bench;
  const voices = await Promise.all(notes.map((path) => voiceOf(telegram, path, 1)));
  const sample: Sample = { peakRss: 0, engineCpu: new Map(), workerCpu: new Map() };
  const sampler = setInterval(() => sampleTree(bench.dataDir, sample), 250);
  // Let the warm workers load before the clock starts: an idle service is a started one.
  await new Promise((r) => setTimeout(r, 3000));
  const held = async () => (await runnerMetrics.engineBusy.get()).values[0]?.value ?? 0;
  const engines = (await runnerMetrics.engines.get()).values[0]?.value ?? 0;
  const heldBefore = await held();
  let heldThen = 0;
  const cpuBefore = treeCpu();
  const started = performance.now();
  const expected = USERS * NOTES;
  for (let user = 1; user <= USERS; user++) {
    for (let n = 0; n < NOTES; n++) {
      telegram.pushUpdate({ message: telegram.message({ voice: voices[(user + n) % voices.length] }, { id: 10_000 + user }) });
    }
    telegram.pushUpdate({
      message: telegram.message({ text: '/balance', entities: [{ type: 'bot_command', offset: 0, length: 8 }] }, { id: 10_000 + user }),
    });
  }
  const deadline = started + (mode === 'today' ? BASELINE_CAP_S : 900) * 1000;
  let lastAt = started;
  let seen = 0;
  let transcribedAt: number | undefined;
  let engineCpuThen = 0;
  const unfinished = () =>
    bench.service.db
      .select({ id: orders.id })
      .from(orders)
      .where(inArray(orders.state, ['received', 'queued', 'running']))
      .all().length;
  const recorded = () => bench.service.db.select({ id: orders.id }).from(orders).all().length;
  while (performance.now() < deadline) {
    if (transcribedAt === undefined && recorded() >= expected && unfinished() === 0) {
      transcribedAt = performance.now();
      heldThen = (await held()) - heldBefore;
      sampleTree(bench.dataDir, sample);
      engineCpuThen = [...sample.engineCpu.values()].reduce((a, b) => a + b, 0);
    }
    const now = transcripts(telegram).size;
    if (now > seen) {
      seen = now;
      lastAt = performance.now();
    }
    if (now >= expected) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const cut = seen < expected;
  const seconds = ((cut ? performance.now() : lastAt) - started) / 1000;
  sampleTree(bench.dataDir, sample);
  clearInterval(sampler);
  const engineCpu = [...sample.engineCpu.values()].reduce((a, b) => a + b, 0);
  const counts = transcripts(telegram);
  const flood = { ...telegram.flood };
  const heldAll = (await held()) - heldBefore;
  await bench.stop();
  // After the stop every worker has been waited for, so their CPU time (and their engines') is counted.
  const cpu = treeCpu() - cpuBefore;
  return {
    seconds,
    cut,
    delivered: counts.size,
    duplicates: [...counts.values()].filter((c) => c > 1).length,
    sends: flood.accepted + flood.refused,
    refused: flood.refused,
    ...(mode === 'warm' && engines > 0
      ? {
          engineHeld: heldAll / (engines * seconds),
          engineHeldWhileWork: heldThen / (engines * (((transcribedAt ?? performance.now()) - started) / 1000)),
        }
      : {}),
    engineBusy: engineCpu / (THREADS * seconds),
    transcribedIn: ((transcribedAt ?? performance.now()) - started) / 1000,
    engineBusyWhileWork:
      (transcribedAt ? engineCpuThen : engineCpu) / (THREADS * (((transcribedAt ?? performance.now()) - started) / 1000)),
    peakRss: sample.peakRss,
    cpuPerNote: cpu / Math.max(1, counts.size),
    engineCpuPerNote: engineCpu / Math.max(1, counts.size),
    workerCpuPerNote: [...sample.workerCpu.values()].reduce((a, b) => a + b, 0) / Math.max(1, counts.size),
  };
}

/** When one note's answer reached the chat: the transcript's text, and the last of its files. */
interface Latency {
  text: number;
  files: number;
}

/**
 * Message to transcript for one note at a time on an idle, started service: median of IDLE rounds. The text is
 * the second message in the chat (after the status); the files follow it, one a second (Telegram's per-chat limit).
 */
async function idleLatency(mode: Mode, note: string, rounds: number): Promise<Latency> {
  const bench = await startService(mode);
  const { telegram } = bench;
  await new Promise((r) => setTimeout(r, 3000));
  const texts: number[] = [];
  const files: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const voice = await voiceOf(telegram, note, 5);
      const message = telegram.message({ voice }, { id: 50_000 + round }) as { message_id: number };
      const started = performance.now();
      telegram.pushUpdate({ message });
      const textSent = () => telegram.sent.filter((m) => m.reply_to === message.message_id && m.method === 'sendMessage').length >= 2;
      let textAt: number | undefined;
      while (!transcripts(telegram).has(message.message_id) || textAt === undefined) {
        if (textAt === undefined && textSent()) textAt = performance.now();
        await new Promise((r) => setTimeout(r, 10));
      }
      texts.push((textAt - started) / 1000);
      files.push((performance.now() - started) / 1000);
      // The next round starts on a quiet chat: the closing status edit goes out a second after the last file.
      await new Promise((r) => setTimeout(r, 1500));
    }
  } finally {
    await bench.stop();
  }
  return { text: median(texts), files: median(files) };
}

/** The bare engine's CPU seconds per note: the worker's transcription of each WAV (`readings: 'worker'`), or one read. */
interface BareEngine {
  worker: number;
  single: number;
}

/**
 * One engine (one thread) fed the notes without the service: first through the worker's own `transcribeFile` (the
 * readings the service's engines do, a second one for an unsure window included), then one reading per note at the
 * context `transcribeFile` starts with. Only the engine process's CPU is counted.
 */
async function bareEngine(notes: string[], dir: string): Promise<BareEngine> {
  const engine = await ServerEngine.start({ binary: SERVER, model: MODEL, threads: 1 });
  const pool = await EnginePool.create(1, () => Promise.resolve(engine));
  const pid = (engine as unknown as { child: { pid: number } }).child.pid;
  const cpu = () => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(stat[11]) + Number(stat[12])) / TICK_S;
  };
  const wavs = await Promise.all(
    notes.map(async (note, i) => {
      const wav = join(dir, `bare${i}.wav`);
      await ffmpeg(['-y', '-i', note, '-ar', '16000', '-ac', '1', '-f', 'wav', wav]);
      return wav;
    }),
  );
  const rounds = USERS * NOTES;
  let before = cpu();
  for (let n = 0; n < rounds; n++) {
    await transcribeFile(wavs[n % wavs.length]!, pool, { model: 'tiny.en', name: 'note.wav', container: 'wav', language: 'en' });
  }
  const worker = (cpu() - before) / rounds;
  const bytes = await Promise.all(wavs.map((wav) => readFile(wav)));
  before = cpu();
  for (let n = 0; n < rounds; n++) {
    const wav = bytes[n % bytes.length]!;
    await engine.transcribe({ wav, audioCtx: audioContextFor((wav.length - 44) / 32_000), language: 'en' });
  }
  const single = (cpu() - before) / rounds;
  await pool.close();
  return { worker, single };
}

const dir = await mkdtemp(join(tmpdir(), 'bench-load-audio-'));
try {
  const notes = await Promise.all(PHRASES.map((text, i) => spokenFile(dir, `note${i}.ogg`, text)));
  console.log(`load: ${USERS} users x ${NOTES} notes (+ /balance each), ${THREADS} threads, tiny.en, Telegram flood limits enforced`);
  const figures: Partial<Record<Mode, BurstFigures>> = {};
  if (PARTS.has('1')) {
    for (const mode of MODES) {
      const f = await burst(mode, notes);
      figures[mode] = f;
      console.log(
        `  burst, ${LABEL[mode].padEnd(27)} ${fixed(f.seconds, 1, 6)} s${f.cut ? ' (cut off)' : ''} to the last of ${f.delivered}/${USERS * NOTES} transcripts` +
          `, ${f.duplicates} twice, 429s ${f.refused}/${f.sends} (${fixed((100 * f.refused) / Math.max(1, f.sends), 2)} %)` +
          (f.engineHeld !== undefined
            ? `, engine busy ${fixed(100 * f.engineHeld, 0)} % (${fixed(100 * f.engineHeldWhileWork!, 0)} % until the last transcription, at ${fixed(f.transcribedIn, 1)} s)`
            : '') +
          `, engine CPU ${fixed(100 * f.engineBusy, 0)} % (${fixed(100 * f.engineBusyWhileWork, 0)} % until the last transcription)` +
          `, peak RSS ${mib(f.peakRss)}, ${fixed(f.cpuPerNote, 3)} CPU s/note (engines ${fixed(f.engineCpuPerNote, 3)}` +
          `${mode === 'warm' ? `, worker ${fixed(f.workerCpuPerNote, 3)}` : ''}, the rest: service, loopback Telegram, ffmpeg)`,
      );
    }
    const { warm, today } = figures;
    if (warm && today) {
      const rate = (f: BurstFigures) => f.delivered / f.seconds;
      console.log(
        `  notes per second: ${fixed(rate(warm), 2)} warm / ${fixed(rate(today), 2)} today = ${fixed(rate(warm) / rate(today), 1)}x`,
      );
    }
  }
  if (PARTS.has('2')) {
    const five = await spokenFile(dir, 'five.ogg', FIVE_SECONDS);
    const latency: Partial<Record<Mode, Latency>> = {};
    for (const mode of MODES) latency[mode] = await idleLatency(mode, five, mode === 'today' ? IDLE_BASELINE : IDLE);
    const show = (l?: Latency) => (l ? `${fixed(l.text, 2)} s (files ${fixed(l.files, 2)} s)` : '-');
    const { warm, today } = latency;
    console.log(
      `  one 5 s note, idle service, message to transcript text (median of ${IDLE} warm, ${IDLE_BASELINE} today): ${show(warm)} warm / ${show(today)} today` +
        (warm && today ? ` = ${fixed(warm.text / today.text, 2)}` : ''),
    );
  }
  if (PARTS.has('3')) {
    const bare = await bareEngine(notes, dir);
    console.log(
      `  bare engine: ${fixed(bare.worker, 3)} CPU s/note as the worker reads them (second readings included), ${fixed(bare.single, 3)} for one reading`,
    );
    for (const mode of MODES) {
      const f = figures[mode];
      if (f)
        console.log(
          `  service-path cost, ${LABEL[mode]}: ${fixed(f.cpuPerNote / bare.worker, 2)}x the bare engine's CPU for the same notes` +
            ` (${fixed(f.cpuPerNote / bare.single, 2)}x one reading a note; ${fixed(f.cpuPerNote / f.engineCpuPerNote, 2)}x its own engines' CPU in the burst)` +
            `; the loopback Telegram server in this process included`,
        );
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
