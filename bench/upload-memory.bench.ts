/**
 * Peak resident memory while one large attachment streams into the real service, next to the peak
 * for a 10 MB one in the same run: intake streams to the blob store, so the peak must not grow with
 * the file. The attachment is a generated WAV (16 kHz mono header, then silence), so the probe
 * measures it as audio and the order goes all the way to "queued". Prints medians; never fails.
 *
 *   BENCH_LARGE_MB=1024  size of the large attachment in MiB
 *   BENCH_ROUNDS=3       rounds of each size
 */
import { generatedWav, generatedWavSeconds } from './support/generated-wav';
import { RssSampler } from './support/rss';
import { startBenchService, type BenchService } from './support/service';
import { fixed, median, mib } from './support/stats';

const MiB = 1024 * 1024;
const LARGE = Number(process.env.BENCH_LARGE_MB ?? 1024) * MiB;
const SMALL = 10 * MiB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Upload {
  /** Peak RSS while the message was handled. */
  peak: number;
  /** RSS just before it was handed in. */
  before: number;
  seconds: number;
  samples: number;
  state: string;
}

let counter = 0;

async function upload(bench: BenchService, bytes: number): Promise<Upload> {
  const { channel, service } = bench;
  const id = `upload-${++counter}`;
  const message = channel.message('uploader', [{ name: 'long-recording.wav', bytes: () => generatedWav(bytes) }], id);
  (globalThis as { gc?: () => void }).gc?.();
  const sampler = new RssSampler(50);
  const before = process.memoryUsage.rss();
  sampler.start();
  const started = performance.now();
  await channel.receive(message);
  const seconds = (performance.now() - started) / 1000;
  const peak = sampler.stop();
  const order = service.db.$client
    .prepare('select state from orders where id = (select order_id from inbound_messages where message_id = ?)')
    .get(id) as { state: string } | undefined;
  return { peak, before, seconds, samples: sampler.samples, state: order?.state ?? 'none' };
}

async function main(): Promise<void> {
  const bench = await startBenchService({
    NEW_USER_FREE_SECONDS: '1000000000',
    MAX_FILE_BYTES: String(4 * 1024 * MiB),
    MAX_FILE_SECONDS: String(Math.ceil(generatedWavSeconds(LARGE)) + 60),
  });
  try {
    console.log(
      `attachments: generated WAV (16 kHz mono, silence) of ${mib(SMALL)} and ${mib(LARGE)} (${fixed(generatedWavSeconds(LARGE) / 3600, 1)} h); RSS sampled every 50 ms; ${ROUNDS} rounds each (medians)`,
    );
    await upload(bench, 1 * MiB); // warm-up: modules, statements and buffers in place before measuring
    const small: Upload[] = [];
    const large: Upload[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      small.push(await upload(bench, SMALL));
      large.push(await upload(bench, LARGE));
    }
    const states = new Set([...small, ...large].map((u) => u.state));
    const row = (label: string, size: number, runs: Upload[]) => {
      const peak = median(runs.map((u) => u.peak));
      const growth = median(runs.map((u) => u.peak - u.before));
      const secs = median(runs.map((u) => u.seconds));
      const samples = median(runs.map((u) => u.samples));
      console.log(
        `${label.padStart(11)} | peak RSS ${mib(peak).padStart(10)} | above start ${mib(growth).padStart(9)} | ${fixed(secs, 2, 6)} s | ${fixed(size / MiB / secs, 0, 5)} MiB/s | ${samples} samples`,
      );
      return { peak, growth };
    };
    const s = row(mib(SMALL), SMALL, small);
    const l = row(mib(LARGE), LARGE, large);
    // Growth above the starting RSS is a fraction of a MiB either way, too small for a meaningful ratio.
    console.log(
      `peak RSS ratio large/small: ${fixed(l.peak / s.peak, 2)} for a file ${fixed(LARGE / SMALL, 0)} times larger (growth above start: ${mib(s.growth)} vs ${mib(l.growth)})`,
    );
    console.log(`order states after intake: ${[...states].join(', ')}`);
  } finally {
    await bench.stop();
  }
}

await main();
