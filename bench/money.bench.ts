/**
 * The money commands an order goes through (a new user, the order recorded and quoted, the payment, the job
 * started and finished), on an in-memory database with the statement cache the service opens it with and on
 * one that compiles every query anew, rounds interleaved so a busy machine colours both sides alike. The
 * database itself is the same: only the CPU the commands take differs. Prints each side's median time per
 * order and the ratio; never fails.
 *
 *   BENCH_ROUNDS=5     rounds (time is the median)
 *   BENCH_ORDERS=2000  orders per side and round
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '../src/log';
import { DESK_PRICES, MoneyDesk } from '../test/support/money-desk';
import { fixed, median } from './support/stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ORDERS = Number(process.env.BENCH_ORDERS ?? 2000);

/** Microseconds per order for `ORDERS` orders of 100 s, each paid, run and delivered; and the last user's balance. */
async function orders(statementCache: number): Promise<{ perOrder: number; balance: number }> {
  const desk = new MoneyDesk(':memory:', silentLogger, { statementCache });
  const started = performance.now();
  let balance = 0;
  for (let i = 0; i < ORDERS; i++) {
    const user = desk.user(30);
    const order = desk.send(user, [100]);
    await desk.pay(order.id, `cs_${order.id}`, order.amountCents ?? DESK_PRICES.minimumPaymentCents);
    if (!desk.start(order.id) || desk.finish(order.id) !== 'delivered') throw new Error(`order ${order.id} did not go through`);
    balance = desk.balance(user);
  }
  const perOrder = ((performance.now() - started) * 1000) / ORDERS;
  desk.db.$client.close();
  return { perOrder, balance };
}

const sides = { cached: [] as number[], uncached: [] as number[] };
const balances = new Set<number>();
// One warm-up round each, so the JIT has seen both paths before anything is timed.
await orders(256);
await orders(0);
for (let round = 0; round < ROUNDS; round++) {
  for (const [side, size] of [
    ['cached', 256],
    ['uncached', 0],
  ] as const) {
    const { perOrder, balance } = await orders(size);
    sides[side].push(perOrder);
    balances.add(balance);
  }
}
const cached = median(sides.cached);
const uncached = median(sides.uncached);
console.log(
  `load average at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(`${ORDERS} orders per side, ${ROUNDS} rounds, median time per order (user, order, quote, payment, run, delivery):`);
console.log(`  statement cache (the service)   ${fixed(cached, 0, 6)} µs`);
console.log(`  every query compiled anew       ${fixed(uncached, 0, 6)} µs`);
console.log(`  ratio cached / uncached         ${fixed(cached / uncached, 2, 6)}`);
console.log(`  balance after each order: ${[...balances].join(', ')} s (one figure: both sides did the same)`);
