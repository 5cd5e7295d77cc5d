import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ffmpegPath } from '../../src/media/ffmpeg';
import { ScriptedRunner } from '../support/runners';
import { startTestService, type TestService } from '../support/service';
import { speak } from '../support/speech';
import { TestChannel } from '../support/test-channel';

/**
 * An ffmpeg in front of the real one: it notes each input it is asked to measure, and an input holding `HOLD` blocks
 * until the file `release` exists, one holding `HANG` for good, as a decode of a hostile file could.
 */
async function gatedFfmpeg(dir: string): Promise<string> {
  const path = join(dir, 'ffmpeg');
  await writeFile(
    path,
    `#!/bin/sh
for arg; do [ "$previous" = "-i" ] && input="$arg"; previous="$arg"; done
echo "$input" >> "${dir}/probed"
if grep -q HANG "$input" 2>/dev/null; then while :; do sleep 1; done; fi
if grep -q HOLD "$input" 2>/dev/null; then while [ ! -e "${dir}/release" ]; do sleep 0.05; done; fi
exec "${ffmpegPath()}" "$@"
`,
  );
  await chmod(path, 0o755);
  return path;
}

const probed = async (dir: string) =>
  existsSync(join(dir, 'probed')) ? (await readFile(join(dir, 'probed'), 'utf8')).split('\n').filter(Boolean) : [];

/** Messages with recordings from one user go through intake one at a time; a message's measuring has a budget. */
describe('one user cannot hold intake', () => {
  let dir: string;
  let speech: string;
  let channel: TestChannel;
  let svc: TestService;
  const previousFfmpeg = process.env.FFMPEG_PATH;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'intake-per-user-'));
    speech = join(dir, 'hello.wav');
    await speak('Hello there.', speech);
    process.env.FFMPEG_PATH = await gatedFfmpeg(dir);
    channel = new TestChannel();
    svc = await startTestService({
      channels: [channel],
      runner: new ScriptedRunner(),
      env: { MAX_CONCURRENT_PROBES: '4', PROBE_SECONDS_PER_MESSAGE: '2' },
    });
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
    if (previousFfmpeg === undefined) delete process.env.FFMPEG_PATH;
    else process.env.FFMPEG_PATH = previousFfmpeg;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a second message of a user whose first is still being measured waits, while another user’s goes through', async () => {
    const first = channel.receive(channel.message('alice', [{ name: 'long.mp3', bytes: Buffer.from('HOLD: a measure that takes hours') }]));
    await vi.waitFor(async () => expect(await probed(dir)).toHaveLength(1), { timeout: 60_000, interval: 50 });

    let secondOpened = false;
    const secondFile = () => {
      secondOpened = true;
      return Readable.from([Buffer.from('not audio either')]);
    };
    const second = channel.receive(channel.message('alice', [{ name: 'again.mp3', bytes: secondFile }]));

    // Bob's message is taken in, measured and answered while Alice's first is still in hand.
    await channel.receive(channel.message('bob', [speech]));
    await channel.waitForReply((reply) => /hello\.wav/.test(reply.text), 60_000);
    expect(channel.repliesTo('bob').some((reply) => /hello\.wav \(0:0\d\)/.test(reply.text))).toBe(true);
    // Alice's second message has not been opened: nothing downloaded, no intake slot taken.
    expect(secondOpened).toBe(false);
    expect(channel.repliesTo('alice')).toHaveLength(0);

    await writeFile(join(dir, 'release'), '');
    await Promise.all([first, second]);
    expect(secondOpened).toBe(true);
    expect(svc.orders()).toHaveLength(3);
  }, 120_000);

  it('a message’s files share one measuring budget: a decode that never ends is cut off there, and the files after it are refused unmeasured', async () => {
    const before = (await probed(dir)).length;
    await channel.receive(
      channel.message('carol', [{ name: 'endless.mp3', bytes: Buffer.from('HANG: a decode that never ends') }, speech]),
    );
    const reply = await channel.waitForReply((r, to) => to.chatId === 'carol' && /endless\.mp3/.test(r.text), 60_000);
    expect(reply.text).toMatch(/endless\.mp3: could not be measured within the 0:02 the files of one message get together/);
    expect(reply.text).toMatch(/hello\.wav: could not be measured/);
    // Only the endless file was decoded; the other was refused without starting ffmpeg.
    expect((await probed(dir)).length - before).toBe(1);
  }, 120_000);
});
