import { buffer as readAll } from 'node:stream/consumers';
import { GatewayIntentBits } from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log';
import { AttachmentRefusal, DeliveryError, type Channel, type ReplyAddress } from '../../../src/ports/channel';
import { FakeDiscord, type FakeUser } from '../../../test/support/fake-discord';
import { RecordingHandler } from '../../../test/support/recording-handler';
import { createDiscordChannel, type DiscordOptions } from '../index';

const running: { fake: FakeDiscord; channel: Channel }[] = [];

/** A loopback Discord and a channel connected to it, with short waits so tests stay quick. */
async function setup(options: Partial<DiscordOptions> = {}, handler = new RecordingHandler()) {
  const fake = await new FakeDiscord().start();
  const channel = createDiscordChannel({
    token: fake.token,
    apiRoot: fake.apiRoot,
    log: silentLogger,
    handlerRetry: { baseDelayMs: 50, maxDelayMs: 200, maxAttempts: 4 },
    typing: { everyMs: 200 },
    download: { baseDelayMs: 20 },
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

const ada: FakeUser = { id: '300000000000000042', username: 'ada', globalName: 'Ada L.' };
const bob: FakeUser = { id: '300000000000000043', username: 'bob' };
const otherBot: FakeUser = { id: '300000000000000099', username: 'music-bot', bot: true };

/** Lets the gateway's events reach the channel, for checks that something did not happen. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe('discord channel: start', () => {
  it('identifies with the intents it needs and registers the slash commands', async () => {
    const { fake } = await setup();
    const intents = fake.intents ?? 0;
    for (const bit of [
      GatewayIntentBits.Guilds,
      GatewayIntentBits.GuildMessages,
      GatewayIntentBits.DirectMessages,
      GatewayIntentBits.MessageContent,
    ]) {
      expect(intents & bit).toBe(bit);
    }
    expect(fake.commands?.map((c) => c.name)).toEqual(['start', 'help', 'balance', 'language', 'translate', 'format']);
    expect(fake.commands?.find((c) => c.name === 'language')?.options).toEqual([expect.objectContaining({ name: 'code', required: true })]);
  });

  it('refuses to start with a token Discord rejects', async () => {
    const fake = await new FakeDiscord().start();
    try {
      const channel = createDiscordChannel({ token: 'wrong', apiRoot: fake.apiRoot, log: silentLogger });
      await expect(channel.start(new RecordingHandler().handle)).rejects.toThrow(/token/i);
      await channel.stop();
    } finally {
      await fake.stop();
    }
  });

  it('refuses to start when the Message Content intent is not switched on', async () => {
    const fake = await new FakeDiscord().start();
    fake.refuseIdentify = { code: 4014, reason: 'Disallowed intent(s).' };
    try {
      const channel = createDiscordChannel({ token: fake.token, apiRoot: fake.apiRoot, log: silentLogger });
      await expect(channel.start(new RecordingHandler().handle)).rejects.toThrow(/intents/i);
      await channel.stop();
    } finally {
      await fake.stop();
    }
  });
});

describe('discord channel: incoming', () => {
  it('turns a DM with an audio attachment into one message whose attachment streams the bytes', async () => {
    const { fake, handler } = await setup();
    const audio = Buffer.from('OggS pretend opus audio '.repeat(100));
    const attachment = fake.addAttachment(audio, 'voice-message.ogg', 'audio/ogg');
    const id = fake.dm(ada, { attachments: [attachment] });

    const [message] = await handler.waitFor(1);
    expect(message).toMatchObject({
      channel: 'discord',
      id: `dc:${id}`,
      sender: { id: ada.id, name: 'Ada L.' },
      replyTo: { channel: 'discord', chatId: expect.any(String), messageId: id },
    });
    expect(message.attachments).toHaveLength(1);
    expect(message.attachments[0]).toMatchObject({ name: 'voice-message.ogg', mimeType: 'audio/ogg', size: audio.length });
    expect(fake.downloaded).toEqual([]); // nothing fetched before intake asks
    expect(await readAll(await message.attachments[0].open())).toEqual(audio);
  });

  it('hands on every attachment, images and untyped files too, for intake to take or name', async () => {
    const { fake, handler } = await setup();
    fake.dm(ada, {
      attachments: [
        fake.addAttachment(Buffer.from('a'), 'meeting.m4a', 'application/octet-stream'),
        fake.addAttachment(Buffer.from('b'), 'clip.mp4', 'video/mp4'),
        fake.addAttachment(Buffer.from('c'), 'photo.png', 'image/png'),
        fake.addAttachment(Buffer.from('d'), 'notes'),
      ],
    });
    const [message] = await handler.waitFor(1);
    expect(message.attachments.map((a) => [a.name, a.mimeType])).toEqual([
      ['meeting.m4a', 'application/octet-stream'],
      ['clip.mp4', 'video/mp4'],
      ['photo.png', 'image/png'],
      ['notes', undefined],
    ]);
  });

  it('ignores server messages that do not mention the bot, and takes those that do', async () => {
    const { fake, handler } = await setup();
    fake.guildMessage(bob, {
      content: 'anyone up for lunch?',
      attachments: [fake.addAttachment(Buffer.from('x'), 'song.mp3', 'audio/mpeg')],
    });
    await settle();
    expect(handler.messages).toEqual([]);

    const id = fake.guildMessage(bob, {
      content: 'transcribe this please',
      mention: true,
      attachments: [fake.addAttachment(Buffer.from('y'), 'talk.mp3', 'audio/mpeg')],
    });
    const [message] = await handler.waitFor(1);
    expect(message).toMatchObject({
      id: `dc:${id}`,
      sender: { id: bob.id },
      replyTo: { chatId: fake.guild.channelId, messageId: id },
      text: 'transcribe this please',
    });
    expect(message.attachments.map((a) => a.name)).toEqual(['talk.mp3']);
  });

  it('takes a server message that mentions the bot through the role Discord made for it', async () => {
    const { fake, handler } = await setup();
    const id = fake.guildMessage(bob, {
      content: 'transcribe this please',
      mention: 'role',
      attachments: [fake.addAttachment(Buffer.from('y'), 'talk.mp3', 'audio/mpeg')],
    });
    const [message] = await handler.waitFor(1);
    expect(message).toMatchObject({ id: `dc:${id}`, sender: { id: bob.id }, text: 'transcribe this please' });
    expect(message.attachments.map((a) => a.name)).toEqual(['talk.mp3']);
  });

  it('takes the recording of a forwarded message, which Discord sends in the forward’s snapshot', async () => {
    const { fake, handler } = await setup();
    const audio = Buffer.from('OggS forwarded voice '.repeat(50));
    const id = fake.forwardDm(ada, [fake.addAttachment(audio, 'voice-message.ogg', 'audio/ogg')]);
    const [message] = await handler.waitFor(1);
    expect(message.id).toBe(`dc:${id}`);
    expect(message.attachments.map((a) => [a.name, a.mimeType, a.size])).toEqual([['voice-message.ogg', 'audio/ogg', audio.length]]);
    expect(await readAll(await message.attachments[0]!.open())).toEqual(audio);
  });

  it('leaves alone a mention in a channel where it may not answer, so no seconds go on a transcript it cannot post', async () => {
    const { fake, handler } = await setup();
    fake.restrictChannel(1n << 15n); // attach files
    fake.guildMessage(bob, { mention: true, attachments: [fake.addAttachment(Buffer.from('y'), 'talk.mp3', 'audio/mpeg')] });
    // A DM after it is taken: the server message before it had its turn and was left alone.
    const dm = fake.dm(ada, { attachments: [fake.addAttachment(Buffer.from('z'), 'voice.ogg', 'audio/ogg')] });
    const [message] = await handler.waitFor(1);
    expect(message.id).toBe(`dc:${dm}`);
    expect(handler.messages.map((m) => m.id)).toEqual([`dc:${dm}`]);
  });

  it('ignores messages from bots, itself included', async () => {
    const { fake, handler } = await setup();
    fake.dm(otherBot, { attachments: [fake.addAttachment(Buffer.from('x'), 'a.ogg', 'audio/ogg')] });
    fake.guildMessage(otherBot, { mention: true, content: 'hi' });
    fake.dm(fake.bot, { content: 'my own words' });
    await settle();
    expect(handler.messages).toEqual([]);
  });

  it('hands a message dispatched twice to the core once', async () => {
    const { fake, handler } = await setup();
    const id = fake.id();
    fake.dm(ada, { id, attachments: [fake.addAttachment(Buffer.from('x'), 'a.ogg', 'audio/ogg')] });
    fake.dm(ada, { id, attachments: [fake.addAttachment(Buffer.from('x'), 'a.ogg', 'audio/ogg')] });
    await handler.waitFor(1);
    await settle();
    expect(handler.calls).toBe(1);
  });

  it('reads a typed /command in a DM as a command', async () => {
    const { fake, handler } = await setup();
    fake.dm(ada, { content: '/language  de' });
    fake.guildMessage(bob, { mention: true, content: '/balance' });
    const messages = await handler.waitFor(2);
    expect(messages.map((m) => m.command)).toEqual([
      { name: 'language', args: 'de' },
      { name: 'balance', args: '' },
    ]);
  });

  it('keeps retrying while the core cannot record, and tells the user when it gives up', async () => {
    const handler = new RecordingHandler();
    handler.failures = 2;
    const { fake } = await setup({}, handler);
    const first = fake.dm(ada, { content: 'hello' });
    await handler.waitFor(1);
    expect(handler.calls).toBe(3);
    expect(fake.repliesTo(first)).toEqual([]);

    handler.failures = 10;
    const second = fake.dm(ada, { content: 'hello again' });
    const [busy] = await fake.waitFor(() => fake.repliesTo(second).length > 0 && fake.repliesTo(second));
    expect(busy.content).toMatch(/send it again/);
  });

  it('hands a message it gives up on to the core, which tells the user once, rather than answering itself', async () => {
    const handler = new RecordingHandler({ gaveUp: true });
    handler.failures = 1000;
    const { fake } = await setup({}, handler);
    const message = fake.dm(ada, { content: 'hello' });
    await new Promise<void>((resolve) => {
      const check = () => (handler.givenUp.length > 0 ? resolve() : setTimeout(check, 20));
      check();
    });
    expect(handler.calls).toBe(4);
    expect(handler.givenUp).toHaveLength(1);
    expect(fake.repliesTo(message)).toEqual([]);
  });

  it('refuses a download that runs past the size Discord announced, and a file the CDN no longer has', async () => {
    const { fake, handler } = await setup();
    const bigger = fake.addAttachment(Buffer.alloc(5000, 1), 'long.ogg', 'audio/ogg', 1000);
    fake.dm(ada, { attachments: [bigger] });
    const [message] = await handler.waitFor(1);
    await expect(message.attachments[0].open().then(readAll)).rejects.toBeInstanceOf(AttachmentRefusal);

    const stored = fake.addAttachment(Buffer.from('x'), 'gone.ogg', 'audio/ogg');
    const gone = { ...stored, url: stored.url.replace(stored.id, '1') };
    fake.dm(ada, { attachments: [gone] });
    const [, second] = await handler.waitFor(2);
    await expect(second.attachments[0].open()).rejects.toMatchObject({ name: 'AttachmentRefusal', reason: 'unavailable' });
  });
});

describe('discord channel: slash commands', () => {
  it('defers a command, hands it to the core, and edits the answer into the placeholder', async () => {
    const { fake, channel, handler } = await setup();
    const id = fake.slashCommand(ada, 'language', [{ name: 'code', value: 'de' }]);
    const [message] = await handler.waitFor(1);
    expect(message).toMatchObject({
      id: `dc:${id}`,
      command: { name: 'language', args: 'de' },
      sender: { id: ada.id, languageCode: 'de' },
      attachments: [],
    });
    expect(fake.callbacks).toEqual([{ interactionId: id, type: 5, flags: 0 }]);

    await channel.send(message.replyTo, {
      key: `cmd:${message.id}`,
      kind: 'command',
      text: 'I will transcribe your next recordings as "de".',
    });
    expect(fake.sent).toEqual([
      expect.objectContaining({ via: 'interaction', interactionId: id, content: 'I will transcribe your next recordings as "de".' }),
    ]);
  });

  it('answers a command in a server only to the one who asked', async () => {
    const { fake, channel, handler } = await setup();
    const id = fake.slashCommand(bob, 'balance', [], true);
    const [message] = await handler.waitFor(1);
    expect(message.replyTo.chatId).toBe(fake.guild.channelId);
    expect(fake.callbacks).toEqual([{ interactionId: id, type: 5, flags: 64 }]);
    await channel.send(message.replyTo, { key: 'b', kind: 'command', text: 'You have 10 min of transcription left.' });
    expect(fake.sent.map((m) => m.via)).toEqual(['interaction']);
  });

  it('answers in the channel when the interaction can no longer be answered', async () => {
    const { fake, channel, handler } = await setup();
    fake.fail('POST', /^\/interactions\//, 404, { code: 10062, message: 'Unknown interaction' });
    fake.slashCommand(ada, 'help');
    const [message] = await handler.waitFor(1);
    await channel.send(message.replyTo, { key: 'h', kind: 'command', text: 'Send me a voice message.' });
    expect(fake.sent).toEqual([
      expect.objectContaining({ via: 'channel', channelId: message.replyTo.chatId, content: 'Send me a voice message.' }),
    ]);
  });

  it('answers a server command whose interaction is gone in the asker’s DMs, never in the channel', async () => {
    const { fake, channel, handler } = await setup();
    fake.fail('POST', /^\/interactions\//, 404, { code: 10062, message: 'Unknown interaction' });
    fake.slashCommand(bob, 'balance', [], true);
    const [message] = await handler.waitFor(1);
    await channel.send(message.replyTo, { key: 'b', kind: 'command', text: 'You have 10 min of transcription left.' });
    expect(fake.dmChannelsOpened).toEqual([bob.id]);
    expect(fake.sent).toEqual([
      expect.objectContaining({ via: 'channel', channelId: `8${bob.id.slice(1)}`, content: 'You have 10 min of transcription left.' }),
    ]);
    expect(fake.sent.filter((m) => m.channelId === fake.guild.channelId)).toEqual([]);
  });
});

describe('discord channel: replies', () => {
  /** A DM from Ada with a recording, as the core would address its replies. */
  async function dmAddress(fake: FakeDiscord, handler: RecordingHandler): Promise<ReplyAddress> {
    fake.dm(ada, { attachments: [fake.addAttachment(Buffer.from('x'), 'voice.ogg', 'audio/ogg')] });
    const [message] = await handler.waitFor(1);
    return message.replyTo;
  }

  it('keeps a long quote’s price and pay link whole, also when Discord refuses the button', async () => {
    const { fake, channel, handler } = await setup();
    const to = await dmAddress(fake, handler);
    const skipped = 'could not be measured within the 10:00 the files of one message get together, so I skipped it';
    const lines = [`• ${'a'.repeat(116)}.ogg (0:12)`, ...Array.from({ length: 9 }, (_, i) => `• ${'n'.repeat(115)}${i}.ogg: ${skipped}`)];
    const text = `${lines.join('\n')}\n\nPay $0.50 to transcribe it.`;
    expect(text.length).toBeGreaterThan(2000);
    fake.fail('POST', /^\/channels\/\d+\/messages$/, 400, { code: 50035, message: 'Invalid Form Body' });
    await channel.send(to, {
      key: 'q',
      kind: 'quote',
      orderId: 'o-long',
      text,
      action: { label: 'Pay $0.50', url: 'http://localhost:8080/pay/abc' },
    });
    const [quote] = fake.repliesTo(to.messageId);
    expect(quote!.content!.length).toBeLessThanOrEqual(2000);
    expect(quote!.content).toMatch(/…\n\nPay \$0\.50 to transcribe it\.\n\nPay \$0\.50: http:\/\/localhost:8080\/pay\/abc$/);
    expect(quote!.content).toContain(lines[0]);
  });

  it('replies to the message, with the pay link as a link button and no pings from the text', async () => {
    const { fake, channel, handler } = await setup();
    const to = await dmAddress(fake, handler);
    await channel.send(to, {
      key: 'q',
      kind: 'quote',
      orderId: 'o1',
      text: '• voice.ogg (0:12)\nPay $0.50 to transcribe it.',
      action: { label: 'Pay $0.50', url: 'https://checkout.example/s/1' },
    });

    const [quote] = fake.repliesTo(to.messageId);
    expect(quote).toMatchObject({ via: 'channel', channelId: to.chatId, content: expect.stringContaining('voice.ogg (0:12)') });
    expect(quote.components).toEqual([
      { type: 1, components: [{ type: 2, style: 5, label: 'Pay $0.50', url: 'https://checkout.example/s/1' }] },
    ]);
    expect(quote.allowedMentions).toMatchObject({ parse: [] });
  });

  it('edits one status message as the order moves, drops the button once paid, and shows typing while working', async () => {
    const { fake, channel, handler } = await setup();
    const to = await dmAddress(fake, handler);
    await channel.send(to, {
      key: 'q',
      kind: 'quote',
      orderId: 'o2',
      text: 'Pay $0.50',
      action: { label: 'Pay $0.50', url: 'https://checkout.example/s/2' },
    });
    await channel.send(to, {
      key: 'p',
      kind: 'status',
      orderId: 'o2',
      text: 'Payment received, thank you. Transcribing now.',
      working: true,
    });
    await channel.send(to, { key: 'w', kind: 'status', orderId: 'o2', text: 'Transcribing: 50 %', transient: true, working: true });
    await fake.waitFor(() => fake.typing.filter((c) => c === to.chatId).length >= 2);
    // The closing status is a transient one sent after the transcript: it must not start typing again.
    await channel.send(to, { key: 'd', kind: 'status', orderId: 'o2', text: 'Done: the transcript is below.', transient: true });

    const replies = fake.repliesTo(to.messageId);
    expect(replies).toHaveLength(1);
    expect(replies[0].edits.map((e) => e.content)).toEqual([
      'Payment received, thank you. Transcribing now.',
      'Transcribing: 50 %',
      'Done: the transcript is below.',
    ]);
    expect(replies[0].edits[0].components).toEqual([]);
    const typed = fake.typing.length;
    await settle();
    expect(fake.typing.length).toBe(typed); // typing stops with the final status
  });

  it('posts a new status message when the old one was deleted', async () => {
    const { fake, channel, handler } = await setup();
    const to = await dmAddress(fake, handler);
    await channel.send(to, { key: 'q', kind: 'quote', orderId: 'o3', text: 'Transcribing now.' });
    fake.fail('PATCH', /^\/channels\/\d+\/messages\/\d+$/, 404, { code: 10008, message: 'Unknown Message' });
    await channel.send(to, { key: 'd', kind: 'status', orderId: 'o3', text: 'Done.' });
    expect(fake.repliesTo(to.messageId).map((m) => m.content)).toEqual(['Transcribing now.', 'Done.']);
  });

  it('sends a transcript as its text with the files attached, as a reply', async () => {
    const { fake, channel, handler } = await setup();
    const to = await dmAddress(fake, handler);
    const files = [
      { name: 'voice_result.json', contentType: 'application/json', content: Buffer.from('{"text":"hello"}') },
      { name: 'voice.srt', contentType: 'application/x-subrip', content: Buffer.from('1\n00:00:00,000 --> 00:00:01,000\nhello\n') },
    ];
    await channel.send(to, { key: 't', kind: 'transcript', orderId: 'o4', text: 'hello @everyone', files });

    const [reply] = fake.repliesTo(to.messageId);
    expect(reply.content).toBe('hello @everyone');
    expect(reply.allowedMentions).toMatchObject({ parse: [] });
    expect(reply.files.map((f) => [f.name, f.content.toString()])).toEqual(files.map((f) => [f.name, f.content.toString()]));
  });

  it('cuts text longer than 2000 characters and spreads many files over messages of ten', async () => {
    const { fake, channel, handler } = await setup();
    const to = await dmAddress(fake, handler);
    const long = Array.from({ length: 600 }, (_, i) => `word${i}`).join(' ');
    const files = Array.from({ length: 12 }, (_, i) => ({ name: `f${i}.srt`, contentType: 'text/plain', content: Buffer.from(String(i)) }));
    await channel.send(to, { key: 't', kind: 'transcript', orderId: 'o5', text: long, files });

    const replies = fake.repliesTo(to.messageId);
    expect(replies.every((m) => m.content.length <= 2000)).toBe(true);
    expect(
      replies
        .map((m) => m.content)
        .filter(Boolean)
        .join(' '),
    ).toBe(long);
    expect(replies.map((m) => m.files.length)).toEqual([0, 0, 10, 2]);
  });

  it('repeats only the parts that failed when the core retries a transcript', async () => {
    const { fake, channel, handler } = await setup({ restRetries: 0 });
    const to = await dmAddress(fake, handler);
    const long = 'a '.repeat(1500).trim();
    fake.fail('POST', /^\/channels\/\d+\/messages$/, 500, { times: 1 });
    // The first piece fails...
    await expect(channel.send(to, { key: 't', kind: 'transcript', orderId: 'o6', text: long })).rejects.toMatchObject({ permanent: false });
    await channel.send(to, { key: 't', kind: 'transcript', orderId: 'o6', text: long });
    expect(fake.repliesTo(to.messageId)).toHaveLength(2);
    // ...and a retry of a fully sent reply sends nothing again.
    await channel.send(to, { key: 't', kind: 'transcript', orderId: 'o6', text: long });
    expect(fake.repliesTo(to.messageId)).toHaveLength(2);
  });

  it('retries a 5xx a few times before giving up for now', async () => {
    const { fake, channel, handler } = await setup();
    const to = await dmAddress(fake, handler);
    fake.fail('POST', /^\/channels\/\d+\/messages$/, 502, { times: 2 });
    await channel.send(to, { key: 'n1', kind: 'notice', text: 'first' });
    expect(fake.repliesTo(to.messageId).map((m) => m.content)).toEqual(['first']);

    fake.fail('POST', /^\/channels\/\d+\/messages$/, 503, { times: 10 });
    const error = await channel.send(to, { key: 'n2', kind: 'notice', text: 'second' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).permanent).toBe(false);
  });

  it('gives up on a send the server never answers after the configured timeout, so later replies go, and the retry is delivered', async () => {
    const { fake, channel, handler } = await setup({ callTimeoutMs: 2_000, restRetries: 1 });
    const to = await dmAddress(fake, handler);
    // The first try and the REST client's own retry get no answer.
    fake.hang('POST', /^\/channels\/\d+\/messages$/, 2);
    const hanging = channel.send(to, { key: 'o1:done', kind: 'notice', orderId: 'o1', text: 'first order' }).catch((e: unknown) => e);
    // Another order's reply into the same channel: the REST client queues it behind the first on the same route.
    const next = channel.send(to, { key: 'o2:done', kind: 'notice', orderId: 'o2', text: 'second order' });
    const error = await hanging;
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).permanent).toBe(false);
    await next;
    await channel.send(to, { key: 'o1:done', kind: 'notice', orderId: 'o1', text: 'first order' });
    expect(fake.repliesTo(to.messageId).map((m) => m.content)).toEqual(['second order', 'first order']);
  });

  it('reports a user who closed their DMs and a deleted channel as permanent failures', async () => {
    const { fake, channel, handler } = await setup();
    const to = await dmAddress(fake, handler);
    fake.fail('POST', /^\/channels\/\d+\/messages$/, 403, { code: 50007, message: 'Cannot send messages to this user' });
    const blocked = await channel.send(to, { key: 'n1', kind: 'notice', text: 'hi' }).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(DeliveryError);
    expect((blocked as DeliveryError).permanent).toBe(true);

    fake.fail('POST', /^\/channels\/\d+\/messages$/, 404, { code: 10003, message: 'Unknown Channel' });
    const gone = await channel.send(to, { key: 'n2', kind: 'notice', text: 'hi' }).catch((e: unknown) => e);
    expect((gone as DeliveryError).permanent).toBe(true);
    expect(fake.repliesTo(to.messageId)).toEqual([]);
  });

  it('puts the pay link in the text when Discord refuses the button', async () => {
    const { fake, channel, handler } = await setup();
    const to = await dmAddress(fake, handler);
    fake.fail('POST', /^\/channels\/\d+\/messages$/, 400, { code: 50035, message: 'Invalid Form Body' });
    await channel.send(to, {
      key: 'q',
      kind: 'quote',
      orderId: 'o7',
      text: 'Pay to transcribe it.',
      action: { label: 'Pay $0.50', url: 'http://localhost:8080/pay' },
    });
    const [quote] = fake.repliesTo(to.messageId);
    expect(quote.content).toBe('Pay to transcribe it.\n\nPay $0.50: http://localhost:8080/pay');
    expect(quote.components).toEqual([]);
  });
});
