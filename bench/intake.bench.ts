/**
 * Intake throughput: small voice notes driven through the real service (test channel, SQLite, local
 * blob store, probe, quote, outbox) with transcription left out, against a bare Koa + SQLite upload
 * handler driven at the same concurrency in the same run. Prints medians over rounds; never fails.
 *
 *   BENCH_SENDERS=1,16,64  concurrent senders per level
 *   BENCH_MESSAGES=400     messages per round
 *   BENCH_ROUNDS=5         measured rounds per level (after one warm-up round each)
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { shortVoiceNote } from './support/audio';
import { baselineClient, startBaseline } from './support/baseline';
import { startBenchService } from './support/service';
import { fixed, median, percentile } from './support/stats';

const SENDERS = (process.env.BENCH_SENDERS ?? '1,16,64').split(',').map(Number);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

interface Round {
  /** Messages per second, counted until the last one got its first reply. */
  rate: number;
  /** Messages per second, counted until the last handler resolved (durably recorded). */
  acceptedRate: number;
  p50: number;
  p99: number;
  /** CPU time of this process (all threads) per message, in ms: steadier than rates on a shared machine. */
  cpu: number;
}

/**
 * Runs `count` jobs on `senders` closed-loop workers (each starts its next message once the last was
 * taken), as that many chat users sending one note after another would.
 */
async function drive(senders: number, count: number, send: (sender: string, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: senders }, async (_, s) => {
      for (let i = next++; i < count; i = next++) await send(`sender-${s}`, i);
    }),
  );
}

async function serviceRound(clip: Buffer, senders: number, count: number): Promise<Round & { states: Record<string, number> }> {
  // Free seconds enough for every note, so each order is quoted free and queued, the common case.
  const bench = await startBenchService({ NEW_USER_FREE_SECONDS: '1000000000' });
  const { channel } = bench;
  const handedAt = new Map<string, number>();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await drive(senders, count, async (sender, index) => {
    const message = channel.message(sender, [{ name: 'note.ogg', bytes: clip }], `msg-${index}`);
    handedAt.set(message.id, performance.now());
    await channel.receive(message);
  });
  const accepted = performance.now();
  await channel.answered(count);
  const answered = Math.max(...channel.firstReplyAt.values());
  const used = process.cpuUsage(cpu);
  const latencies = [...handedAt].map(([id, at]) => channel.firstReplyAt.get(id)! - at);
  const rows = bench.service.db.all<{ state: string; n: number }>(sql`select state, count(*) as n from orders group by state`);
  await bench.stop();
  return {
    rate: count / ((answered - started) / 1000),
    acceptedRate: count / ((accepted - started) / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpu: (used.user + used.system) / 1000 / count,
    states: Object.fromEntries(rows.map((r) => [r.state, r.n])),
  };
}

async function baselineRound(clip: Buffer, senders: number, count: number): Promise<Round> {
  const baseline = await startBaseline();
  const client = baselineClient(baseline.url, senders);
  const latencies: number[] = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  await drive(senders, count, async (sender) => {
    const at = performance.now();
    await client.post(sender, clip);
    latencies.push(performance.now() - at);
  });
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  client.close();
  await baseline.stop();
  const rate = count / (elapsed / 1000);
  // Client and server share this process, so the baseline's CPU includes its HTTP client.
  return {
    rate,
    acceptedRate: rate,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpu: (used.user + used.system) / 1000 / count,
  };
}

const summarize = (rounds: Round[]) => ({
  rate: median(rounds.map((r) => r.rate)),
  acceptedRate: median(rounds.map((r) => r.acceptedRate)),
  p50: median(rounds.map((r) => r.p50)),
  p99: median(rounds.map((r) => r.p99)),
  cpu: median(rounds.map((r) => r.cpu)),
});

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-intake-'));
  const clip = await readFile(await shortVoiceNote(dir));
  await rm(dir, { recursive: true, force: true });
  console.log(
    `clip: ${clip.length} bytes of ogg/opus speech; ${MESSAGES} messages per round, ${ROUNDS} rounds per level (medians), transcription excluded`,
  );
  console.log('service: first reply = the outbox handing the quote ("transcribing") to the channel; baseline: HTTP response');
  console.log('');
  console.log(
    'senders | service msg/s (accepted) | p50 ms | p99 ms | cpu ms/msg | baseline req/s | p50 ms | p99 ms | cpu ms/req | rate ratio | cpu ratio',
  );

  for (const senders of SENDERS) {
    // One discarded round each first: module loading and JIT warm-up are not the steady state.
    await serviceRound(clip, senders, Math.min(MESSAGES, 100));
    await baselineRound(clip, senders, Math.min(MESSAGES, 100));
    const service: Round[] = [];
    const baseline: Round[] = [];
    let states: Record<string, number> = {};
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate, so drift on a shared machine falls on both sides alike.
      const s = await serviceRound(clip, senders, MESSAGES);
      states = s.states;
      service.push(s);
      baseline.push(await baselineRound(clip, senders, MESSAGES));
    }
    const a = summarize(service);
    const b = summarize(baseline);
    console.log(
      [
        fixed(senders, 0, 7),
        `${fixed(a.rate, 0, 13)} (${fixed(a.acceptedRate, 0, 5)})`.padEnd(25),
        fixed(a.p50, 1, 6),
        fixed(a.p99, 1, 6),
        fixed(a.cpu, 2, 10),
        fixed(b.rate, 0, 14),
        fixed(b.p50, 1, 6),
        fixed(b.p99, 1, 6),
        fixed(b.cpu, 2, 10),
        fixed(a.rate / b.rate, 2, 10),
        fixed(a.cpu / b.cpu, 1, 9),
      ].join(' | '),
    );
    const bad = Object.entries(states).filter(([state]) => state !== 'queued' && state !== 'running');
    if (bad.length > 0) console.log(`  note: orders not accepted in the last round: ${JSON.stringify(states)}`);
  }
  console.log('');
  console.log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${availableParallelism()} cores (figures are only comparable at similar load)`,
  );
  console.log('aim (issue 3): >= 500 msg/s, >= 0.5 of the baseline, p99 < 200 ms on 2 cores');
}

await main();
