import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedRunner } from '../support/runners';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

/**
 * The global bound on concurrent intake: a burst from many users opens at most `MAX_CONCURRENT_INTAKE`
 * downloads at once; the rest wait their turn and are all recorded once the first ones finish.
 */
describe('concurrent intake bound', () => {
  let channel: TestChannel;
  let svc: TestService;

  beforeAll(async () => {
    channel = new TestChannel();
    svc = await startTestService({ channels: [channel], runner: new ScriptedRunner(), env: { MAX_CONCURRENT_INTAKE: '2' } });
  });
  afterAll(async () => svc?.stop());

  it('six users at once: two downloads open, the other four wait, all six recorded', async () => {
    let open = 0;
    let peak = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // An attachment whose download stays open until the gate opens, counting how many are open at once.
    const slow = () =>
      Readable.from(
        (async function* () {
          open += 1;
          peak = Math.max(peak, open);
          await gate;
          yield Buffer.from('not audio, and that does not matter here');
          open -= 1;
        })(),
      );
    const burst = Array.from({ length: 6 }, (_, i) => channel.receive(channel.message(`user-${i}`, [{ name: 'note.ogg', bytes: slow }])));
    // Two downloads open (however long the machine takes to get there); the others wait on the bound.
    await expect.poll(() => open, { timeout: 60_000 }).toBe(2);
    expect(svc.orders()).toHaveLength(0);
    release();
    await Promise.all(burst);
    expect(peak).toBe(2);
    expect(svc.orders()).toHaveLength(6);
  });
});
