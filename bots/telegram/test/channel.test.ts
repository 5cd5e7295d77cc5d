import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer as readAll } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log';
import { AttachmentRefusal, DeliveryError, type Channel, type ReplyAddress } from '../../../src/ports/channel';
import { FakeTelegram, UNPACED } from '../../../test/support/fake-telegram';
import { freePort } from '../../../test/support/ports';
import { RecordingHandler } from '../../../test/support/recording-handler';
import { createTelegramChannel, type TelegramOptions } from '../index';

const running: { fake: FakeTelegram; channel: Channel }[] = [];

/** A fake Bot API server and a channel polling it, with short waits so tests stay quick. */
async function setup(options: Partial<TelegramOptions> = {}, handler = new RecordingHandler()) {
  const fake = await new FakeTelegram().start();
  const channel = createTelegramChannel({
    token: fake.token,
    apiRoot: fake.url,
    log: silentLogger,
    polling: { timeoutSeconds: 2, busyPollMs: 100 },
    mediaGroupWindowMs: 300,
    retry: { baseDelayMs: 20, maxDelayMs: 100 },
    handlerRetry: { baseDelayMs: 50, maxDelayMs: 200, maxAttempts: 5 },
    typing: { everyMs: 200 },
    sendLimits: UNPACED,
    ...options,
  });
  await channel.start(handler.handle);
  running.push({ fake, channel });
  return { fake, channel, handler };
}

afterEach(async () => {
  for (const { fake, channel } of running.splice(0)) {
    await channel.stop();
    await fake.stop();
  }
});

const user = { id: 42, first_name: 'Ada', language_code: 'de' };

describe('telegram channel: incoming', () => {
  it('turns a voice note into one message whose attachment streams the bytes', async () => {
    const { fake, handler } = await setup();
    const audio = Buffer.from('OggS fake opus bytes '.repeat(100));
    const file = fake.addFile(audio, 'voice/file_1.oga');
    const message = fake.message(
      { voice: { file_id: file.file_id, file_unique_id: 'v1', duration: 3, mime_type: 'audio/ogg', file_size: audio.length } },
      user,
    );
    const updateId = fake.pushUpdate({ message });

    const [incoming] = await handler.waitFor(1);
    expect(incoming).toMatchObject({
      channel: 'telegram',
      id: `tg:42:${String(message.message_id)}`,
      sender: { id: '42', name: 'Ada', languageCode: 'de' },
      replyTo: { channel: 'telegram', chatId: '42', messageId: String(message.message_id) },
    });
    expect(incoming.command).toBeUndefined();
    expect(incoming.attachments).toHaveLength(1);
    expect(incoming.attachments[0]).toMatchObject({ name: 'voice.ogg', mimeType: 'audio/ogg', size: audio.length });
    expect(fake.downloads).toBe(0); // nothing fetched until intake opens it
    expect(await readAll(await incoming.attachments[0].open())).toEqual(audio);

    // Recorded, so the update is confirmed to Telegram by the next poll's offset.
    await fake.waitFor(() => fake.callsOf('getUpdates').some((c) => Number(c.params.offset) > updateId));
  });

  it('accepts audio, video, video notes and media documents, and ignores photos and other documents', async () => {
    const { fake, handler } = await setup();
    const f = fake.addFile(Buffer.from('x'));
    fake.pushUpdate({
      message: fake.message(
        { audio: { file_id: f.file_id, file_unique_id: 'a', duration: 1, mime_type: 'audio/mpeg', file_name: 'talk.mp3' } },
        user,
      ),
    });
    fake.pushUpdate({
      message: fake.message({ video: { file_id: f.file_id, file_unique_id: 'b', duration: 1, width: 1, height: 1 } }, user),
    });
    fake.pushUpdate({ message: fake.message({ video_note: { file_id: f.file_id, file_unique_id: 'c', duration: 1, length: 1 } }, user) });
    fake.pushUpdate({
      message: fake.message(
        { document: { file_id: f.file_id, file_unique_id: 'd', mime_type: 'audio/x-m4a', file_name: 'memo.m4a' } },
        user,
      ),
    });
    fake.pushUpdate({
      message: fake.message(
        { document: { file_id: f.file_id, file_unique_id: 'e', mime_type: 'application/pdf', file_name: 'cv.pdf' }, caption: 'my cv' },
        user,
      ),
    });
    const messages = await handler.waitFor(5);
    const names = messages.map((m) => m.attachments.map((a) => a.name));
    // The PDF goes on too: intake names it and says why it is skipped.
    expect(names).toEqual([['talk.mp3'], ['video.mp4'], ['video_note.mp4'], ['memo.m4a'], ['cv.pdf']]);
    expect(messages[4].text).toBe('my cv');
  });

  it('joins an album into one message with every file', async () => {
    // A window far longer than the 120 ms between the parts, so a loaded machine's slow poll cannot split the album.
    const { fake, handler } = await setup({ mediaGroupWindowMs: 2_000 });
    const a = fake.addFile(Buffer.from('first'));
    const b = fake.addFile(Buffer.from('second'));
    const first = fake.message(
      {
        media_group_id: 'g1',
        caption: 'both parts',
        audio: { file_id: a.file_id, file_unique_id: 'a', duration: 1, file_name: 'part.mp3', mime_type: 'audio/mpeg' },
      },
      user,
    );
    const second = fake.message(
      {
        media_group_id: 'g1',
        audio: { file_id: b.file_id, file_unique_id: 'b', duration: 1, file_name: 'part.mp3', mime_type: 'audio/mpeg' },
      },
      user,
    );
    fake.pushUpdate({ message: first });
    await new Promise((r) => setTimeout(r, 120)); // the second part arrives in a later poll
    fake.pushUpdate({ message: second });

    const [incoming] = await handler.waitFor(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(handler.messages).toHaveLength(1);
    expect(incoming.id).toBe(`tg:42:${String(first.message_id)}`);
    expect(incoming.text).toBe('both parts');
    expect(incoming.attachments.map((x) => x.name)).toEqual(['part.mp3', 'part-2.mp3']);
    expect((await readAll(await incoming.attachments[1].open())).toString()).toBe('second');
  });

  it('hands an update seen twice to the core once', async () => {
    const { fake, handler } = await setup();
    handler.delayMs = 800; // still recording while later polls return the unconfirmed update again
    const message = fake.message({ text: 'hello' }, user);
    fake.pushUpdate({ message });
    await handler.waitFor(1);
    // Later polls, however long the machine takes to make them, return the update again: still one call.
    await fake.waitFor(() => fake.callsOf('getUpdates').length > 2, 60_000);
    expect(handler.calls).toBe(1);
  });

  it('parses commands, with and without the bot name, and leaves other bots their commands', async () => {
    const { fake, handler } = await setup();
    fake.pushUpdate({ message: fake.message({ text: '/start' }, user) });
    fake.pushUpdate({ message: fake.message({ text: `/language@${fake.username} EN ` }, user, -100) });
    fake.pushUpdate({ message: fake.message({ text: '/help@some_other_bot' }, user, -100) });
    fake.pushUpdate({ message: fake.message({ text: 'lunch at noon?' }, user, -100) }); // group chatter is not for the bot
    fake.pushUpdate({ message: fake.message({ text: '/Balance' }, user) });
    const messages = await handler.waitFor(3);
    await new Promise((r) => setTimeout(r, 200));
    expect(messages.map((m) => m.command)).toEqual([
      { name: 'start', args: '' },
      { name: 'language', args: 'EN' },
      { name: 'balance', args: '' },
    ]);
    expect(messages[1].replyTo.chatId).toBe('-100');
    expect(messages[1].sender.id).toBe('42');
    const [registered] = fake.callsOf('setMyCommands');
    expect((registered.params.commands as { command: string }[]).map((c) => c.command)).toEqual([
      'start',
      'help',
      'balance',
      'language',
      'translate',
      'format',
    ]);
  });

  it('retries a message the core could not record yet, and confirms it only then', async () => {
    const { fake, handler } = await setup();
    handler.failures = 2;
    const updateId = fake.pushUpdate({ message: fake.message({ text: 'hi' }, user) });
    await handler.waitFor(1);
    expect(handler.calls).toBe(3);
    const confirmedEarly = fake
      .callsOf('getUpdates')
      .slice(0, -1)
      .some((c) => Number(c.params.offset) > updateId);
    expect(confirmedEarly).toBe(false);
  });

  it('hands a message it could not record after its retries to the core to tell the sender, and confirms it', async () => {
    const { fake, handler } = await setup({}, new RecordingHandler({ gaveUp: true }));
    handler.failures = 1000; // the file cannot be fetched however often it is tried
    const message = fake.message({ text: 'hi' }, user);
    const updateId = fake.pushUpdate({ message });
    await fake.waitFor(() => fake.callsOf('getUpdates').some((c) => Number(c.params.offset) > updateId));
    expect(handler.calls).toBe(5);
    expect(handler.givenUp).toEqual([`tg:42:${String(message.message_id)}`]);
  });

  it('refuses a file above the download limit before downloading it', async () => {
    const { fake, handler } = await setup({ maxDownloadBytes: 1000 });
    const big = fake.addFile(Buffer.alloc(5000, 1));
    fake.pushUpdate({
      message: fake.message({ voice: { file_id: big.file_id, file_unique_id: 'v', duration: 1, file_size: 5000 } }, user),
    });
    // No declared size: getFile's size decides.
    fake.pushUpdate({ message: fake.message({ voice: { file_id: big.file_id, file_unique_id: 'v', duration: 1 } }, user) });
    const [declared, undeclared] = await handler.waitFor(2);
    for (const message of [declared, undeclared]) {
      const refusal = await message.attachments[0].open().catch((e: unknown) => e);
      expect(refusal).toBeInstanceOf(AttachmentRefusal);
      expect((refusal as AttachmentRefusal).reason).toBe('too_large');
    }
    expect(fake.downloads).toBe(0);
  });
});

describe('telegram channel: a self-hosted Bot API server', () => {
  it('names the real limit when the server refuses a download as too big', async () => {
    // A loopback apiRoot is a self-hosted server: no limit of ours, so the refusal comes from the server's own 20 MB.
    const { fake, handler } = await setup();
    const big = fake.addFile(Buffer.alloc(20 * 1024 * 1024 + 1, 1));
    fake.pushUpdate({ message: fake.message({ audio: { file_id: big.file_id, file_unique_id: 'a', duration: 1 } }, user) });
    const [message] = await handler.waitFor(1);
    const refusal = (await message.attachments[0].open().catch((e: unknown) => e)) as AttachmentRefusal;
    expect(refusal).toBeInstanceOf(AttachmentRefusal);
    expect(refusal.message).toBe('larger than the 20 MB Telegram lets bots download, so I skipped it');
    expect(fake.downloads).toBe(0);
  });
});

describe('telegram channel: self-hosted Bot API server files', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads absolute paths only as regular files inside the server directory', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tg-local-'));
    const serverDir = join(dir, 'server');
    await mkdir(join(serverDir, 'voice'), { recursive: true });
    await writeFile(join(serverDir, 'voice', 'file_0.oga'), 'local bytes');
    await writeFile(join(dir, 'secret.txt'), 'not for users');
    await symlink(join(dir, 'secret.txt'), join(serverDir, 'voice', 'link.oga'));
    const { fake, handler } = await setup({ localFilesDir: serverDir });
    const paths = [
      join(serverDir, 'voice', 'file_0.oga'),
      join(dir, 'secret.txt'),
      join(serverDir, 'voice', 'link.oga'),
      join(serverDir, 'voice', '..', '..', 'secret.txt'),
      serverDir,
    ];
    const ids = paths.map(() => {
      const file = fake.addFile(Buffer.from('via http'));
      fake.filePathOverride = (id) => paths[ids.indexOf(id)];
      return file.file_id;
    });
    for (const id of ids) fake.pushUpdate({ message: fake.message({ voice: { file_id: id, file_unique_id: id, duration: 1 } }, user) });
    const messages = await handler.waitFor(paths.length);
    expect((await readAll(await messages[0].attachments[0].open())).toString()).toBe('local bytes');
    for (const message of messages.slice(1)) {
      const refusal = await message.attachments[0].open().catch((e: unknown) => e);
      expect(refusal).toBeInstanceOf(AttachmentRefusal);
      expect((refusal as AttachmentRefusal).reason).toBe('unavailable');
    }
  });
});

describe('telegram channel: replies', () => {
  const to = (messageId: number): ReplyAddress => ({ channel: 'telegram', chatId: '42', messageId: String(messageId) });

  it('answers as a reply, with the pay link as a button, and edits one status message as the order moves', async () => {
    const { fake, channel } = await setup();
    await channel.send(to(7), {
      key: 'q1',
      kind: 'quote',
      orderId: 'o1',
      text: 'voice.ogg: 12 min. Price $1.20.',
      action: { label: 'Pay $1.20', url: 'https://checkout.stripe.com/c/pay/cs_test_1' },
    });
    expect(fake.sent).toHaveLength(1);
    const status = fake.sent[0];
    expect(status.reply_to).toBe(7);
    expect(status.reply_markup).toEqual({ inline_keyboard: [[{ text: 'Pay $1.20', url: 'https://checkout.stripe.com/c/pay/cs_test_1' }]] });

    await channel.send(to(7), { key: 's1', kind: 'status', orderId: 'o1', text: 'Paid. Transcribing…', working: true });
    await channel.send(to(7), { key: 's2', kind: 'status', orderId: 'o1', text: 'Transcribing: 50 %', transient: true, working: true });
    expect(fake.sent).toHaveLength(1);
    expect(status.edits.map((e) => e.text)).toEqual(['Paid. Transcribing…', 'Transcribing: 50 %']);
    expect(status.edits[0].reply_markup).toEqual({ inline_keyboard: [] }); // the pay button is gone
    await fake.waitFor(() => fake.callsOf('sendChatAction').length >= 2);
    expect(fake.callsOf('sendChatAction')[0].params).toMatchObject({ chat_id: '42', action: 'typing' });

    const json = Buffer.from(JSON.stringify({ version: 1, text: 'Hello there.' }));
    const srt = Buffer.from('1\n00:00:00,000 --> 00:00:01,000\nHello there.\n');
    await channel.send(to(7), {
      key: 't1',
      kind: 'transcript',
      orderId: 'o1',
      text: 'Hello there.',
      files: [
        { name: 'voice.ogg_result.json', contentType: 'application/json', content: json },
        { name: 'voice.ogg.srt', contentType: 'application/x-subrip', content: srt },
      ],
    });
    const [text, ...documents] = fake.sent.slice(1);
    expect(text).toMatchObject({ method: 'sendMessage', text: 'Hello there.', reply_to: 7 });
    expect(documents.map((d) => [d.method, d.reply_to, d.document?.filename, d.document?.content.toString()])).toEqual([
      ['sendDocument', 7, 'voice.ogg_result.json', json.toString()],
      ['sendDocument', 7, 'voice.ogg.srt', srt.toString()],
    ]);

    // Typing stops with the transcript.
    const actions = fake.callsOf('sendChatAction').length;
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.callsOf('sendChatAction').length).toBe(actions);
  });

  it('posts a new status message when the old one cannot be edited', async () => {
    const { fake, channel } = await setup();
    await channel.send(to(3), { key: 'a', kind: 'status', orderId: 'o2', text: 'Received.' });
    fake.sent.splice(0); // the user deleted it
    await channel.send(to(3), { key: 'b', kind: 'status', orderId: 'o2', text: 'Transcribing…' });
    expect(fake.sent.map((m) => m.text)).toEqual(['Transcribing…']);
  });

  it('follows a group that became a supergroup: the reply and the later ones go to the new chat', async () => {
    const { fake, channel } = await setup();
    fake.migrateGroup(-4001, -1004001);
    const group = (messageId: number): ReplyAddress => ({ channel: 'telegram', chatId: '-4001', messageId: String(messageId) });
    await channel.send(group(5), { key: 'tr1', kind: 'transcript', orderId: 'o1', text: 'The transcript.' });
    await channel.send(group(6), { key: 'tr2', kind: 'notice', text: 'Your balance.' });
    expect(fake.sent.map((m) => [m.chat_id, m.text])).toEqual([
      ['-1004001', 'The transcript.'],
      ['-1004001', 'Your balance.'],
    ]);
    // The old id was tried once; the second reply went straight to the new chat.
    expect(fake.callsOf('sendMessage').map((c) => String(c.params.chat_id))).toEqual(['-4001', '-1004001', '-1004001']);
  });

  it('splits text with no spaces (a CJK transcript, emoji) between characters, never inside one', async () => {
    const { fake, channel } = await setup();
    const text = 'a' + '\u{1F600}'.repeat(3000);
    await channel.send(to(6), { key: 'emoji', kind: 'notice', text });
    const pieces = fake.sent.map((m) => m.text ?? '');
    expect(pieces.length).toBeGreaterThan(1);
    // A lone half of a surrogate pair is not text: Telegram shows it as a replacement character or refuses it.
    expect(
      pieces.every(
        (piece) => piece.length <= 4096 && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(piece),
      ),
    ).toBe(true);
    expect(pieces.join('')).toBe(text);
  });

  it('splits text longer than 4096 characters into replies', async () => {
    const { fake, channel } = await setup();
    expect(channel.textLimit).toBe(4096);
    const long = ('word '.repeat(1000) + '\n').repeat(2);
    await channel.send(to(5), { key: 'long', kind: 'notice', text: long });
    expect(fake.sent.length).toBe(3);
    expect(fake.sent.every((m) => (m.text ?? '').length <= 4096 && m.reply_to === 5)).toBe(true);
    expect(
      fake.sent
        .map((m) => m.text)
        .join(' ')
        .split(/\s+/)
        .filter(Boolean),
    ).toHaveLength(2000);
  });

  it('waits out a 429 and sends once', async () => {
    const { fake, channel } = await setup();
    fake.failNext('sendMessage', { status: 429, retryAfter: 1 });
    await channel.send(to(1), { key: 'n1', kind: 'notice', text: 'Hello' });
    expect(fake.callsOf('sendMessage')).toHaveLength(2);
    expect(fake.sent.map((m) => m.text)).toEqual(['Hello']);
  });

  it('retries server errors with backoff, and gives up after a bounded number of attempts', async () => {
    const { fake, channel } = await setup();
    fake.failNext('sendMessage', { status: 502 }, 2);
    await channel.send(to(1), { key: 'n2', kind: 'notice', text: 'Hi' });
    expect(fake.callsOf('sendMessage')).toHaveLength(3);

    fake.failNext('sendMessage', { status: 500 }, 50);
    const error = await channel.send(to(1), { key: 'n3', kind: 'notice', text: 'Hi again' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).permanent).toBe(false);
    expect(fake.callsOf('sendMessage')).toHaveLength(3 + 5);
  });

  it('gives up on a send the server never answers after the configured timeout, so the chat’s later replies go, and the retry is delivered', async () => {
    const { fake, channel } = await setup({ callTimeoutMs: 2_000 });
    fake.hangNext('sendMessage');
    // Two orders' replies into one chat: the second waits for the first's turn in the chat's lane.
    const hanging = channel
      .send(to(1), { key: 'order-1:done', kind: 'notice', orderId: 'o1', text: 'First order' })
      .catch((e: unknown) => e);
    const next = channel.send(to(2), { key: 'order-2:done', kind: 'notice', orderId: 'o2', text: 'Second order' });
    const error = await hanging;
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).permanent).toBe(false);
    expect((error as DeliveryError).message).toMatch(/no answer within 2 s/);
    await next;
    // The core retries the first reply (it was not permanent); the server answers again.
    await channel.send(to(1), { key: 'order-1:done', kind: 'notice', orderId: 'o1', text: 'First order' });
    expect(fake.sent.map((m) => m.text)).toEqual(['Second order', 'First order']);
  });

  it('ends a delivery to a user who blocked the bot at once, as permanent', async () => {
    const { fake, channel } = await setup();
    fake.failNext('sendDocument', { status: 403 }, 10);
    const error = await channel
      .send(to(1), {
        key: 'x',
        kind: 'transcript',
        text: '',
        files: [{ name: 'a_result.json', contentType: 'application/json', content: Buffer.from('{}') }],
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).permanent).toBe(true);
    expect(fake.callsOf('sendDocument')).toHaveLength(1);
  });

  it('does not resend the parts of a transcript that went out when the core retries it', async () => {
    const { fake, channel } = await setup();
    const reply = {
      key: 'tr',
      kind: 'transcript' as const,
      text: 'Text.',
      files: [
        { name: 'a_result.json', contentType: 'application/json', content: Buffer.from('{}') },
        { name: 'a.srt', contentType: 'application/x-subrip', content: Buffer.from('1') },
      ],
    };
    fake.failNext('sendDocument', { status: 500 }, 5);
    await expect(channel.send(to(9), reply)).rejects.toBeInstanceOf(DeliveryError);
    await channel.send(to(9), reply);
    expect(fake.sent.map((m) => m.document?.filename ?? m.text)).toEqual(['Text.', 'a_result.json', 'a.srt']);
  });
});

describe('telegram channel: webhook mode', () => {
  it('takes updates posted with the secret token, once each, and refuses others', async () => {
    const fake = await new FakeTelegram().start();
    const handler = new RecordingHandler();
    const port = await freePort();
    const channel = createTelegramChannel({
      token: fake.token,
      apiRoot: fake.url,
      log: silentLogger,
      webhook: { url: `https://bot.example.com/tg/hook`, secretToken: 's3cret-token', port },
    });
    await channel.start(handler.handle);
    running.push({ fake, channel });
    expect(fake.callsOf('setWebhook')[0].params).toMatchObject({ url: 'https://bot.example.com/tg/hook', secret_token: 's3cret-token' });

    const update = { update_id: 5, message: fake.message({ text: '/balance' }, user) };
    const post = (secret: string) =>
      fetch(`http://127.0.0.1:${port}/tg/hook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret },
        body: JSON.stringify(update),
      });
    expect((await post('wrong')).status).toBe(401);
    expect((await post('s3cret-token')).status).toBe(200);
    expect((await post('s3cret-token')).status).toBe(200);
    expect(handler.messages.map((m) => m.command?.name)).toEqual(['balance']);
  });

  it('answers a second delivery of an update still being recorded as the first: never 200 before it is recorded', async () => {
    const fake = await new FakeTelegram().start();
    const handler = new RecordingHandler();
    handler.failures = 5; // the core is busy for a while: Telegram sends the update again meanwhile
    const port = await freePort();
    const channel = createTelegramChannel({
      token: fake.token,
      apiRoot: fake.url,
      log: silentLogger,
      webhook: { url: `https://bot.example.com/tg/hook`, secretToken: 's3cret-token', port },
      handlerRetry: { baseDelayMs: 100, maxDelayMs: 100, maxAttempts: 100 },
    });
    await channel.start(handler.handle);
    running.push({ fake, channel });
    const update = { update_id: 78, message: fake.message({ text: '/balance' }, user) };
    const post = () =>
      fetch(`http://127.0.0.1:${port}/tg/hook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 's3cret-token' },
        body: JSON.stringify(update),
      }).then((response) => ({ status: response.status, recorded: handler.messages.length }));
    const first = post();
    await fake.waitFor(() => handler.calls > 0);
    // Confirmed, Telegram forgets the update: so not before it is recorded, or a stop now would lose it.
    expect(await post()).toEqual({ status: 200, recorded: 1 });
    expect(await first).toEqual({ status: 200, recorded: 1 });
    expect(handler.messages.map((m) => m.command?.name)).toEqual(['balance']);
  });
});
