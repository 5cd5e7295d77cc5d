import { readFile, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spokenFile } from '../../test/support/audio';
import {
  CHECK_SENTENCE,
  checkRefusal,
  chunks,
  CORPUS_LIMITS,
  corpusEnv,
  expectFilesUpToLimit,
  makeCorpus,
  type BadInput,
} from '../../test/support/bad-inputs';
import { startDovecot, type TestDovecot } from '../../test/support/dovecot';
import { startTestService, type TestService } from '../../test/support/service';
import { startSmtpSink, type SmtpSink, type SunkMail } from '../../test/support/smtp-sink';
import { buildMail } from './fixtures';
import { mailEnv } from '../../test/support/mail-env';

/**
 * The bad-input corpus by email, through dovecot and an SMTP sink with the service built from the environment as
 * `npm start` builds it: several attachments per mail, each named on its own line with the reason, nothing charged
 * for what is not audio, no empty reply or attachment, and a real recording still transcribed afterwards. Also the
 * parts of a mail that are not attachments (an HTML body's inline logo, a signature) stay out of the answer.
 */

const FREE = 120;
const SERVICE = 'transcripts@example.test';
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5f6d2a30000000049454e44ae426082',
  'hex',
);

describe('email: the bad-input corpus', () => {
  let dir: string;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  let svc: TestService;
  let refused: BadInput[];
  let audio: BadInput[];

  beforeAll(async () => {
    ({ dir, refused, audio } = await makeCorpus('mail-corpus-'));
    [dovecot, sink] = await Promise.all([startDovecot({ user: SERVICE }), startSmtpSink()]);
    svc = await startTestService({
      env: {
        ...corpusEnv(FREE),
        ...mailEnv(dovecot, sink, SERVICE),
        MAIL_SENDER_AUTH: 'none',
      },
    });
  }, 120_000);
  afterAll(async () => {
    await svc?.stop();
    await Promise.all([dovecot?.close(), sink?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Each sender on its own domain, so the daily cap of free grants per domain stays out of the way. */
  const sender = (n: number) => `corpus${n}@c${n}.test`;
  const replyTo = (messageId: string, predicate: (m: SunkMail) => boolean = () => true) =>
    sink.waitForMail((m) => m.parsed.inReplyTo === messageId && predicate(m), 120_000);
  const mailWith = async (n: number, messageId: string, inputs: BadInput[]) =>
    dovecot.append(
      await buildMail({
        from: sender(n),
        to: SERVICE,
        subject: 'Recordings',
        messageId,
        text: 'Here are my files.',
        attachments: inputs.map((i) => ({ filename: i.name, content: i.content, contentType: i.mimeType })),
      }),
    );

  it('answers each refused attachment with one line naming it and the reason, and charges nothing', async () => {
    const mails = chunks(refused, CORPUS_LIMITS.maxFilesPerMessage).map((inputs, n) => ({
      n,
      messageId: `<corpus${n}@c${n}.test>`,
      inputs,
    }));
    for (const { n, messageId, inputs } of mails) await mailWith(n, messageId, inputs);
    const problems: string[] = [];
    for (const { n, messageId, inputs } of mails) {
      const reply = await replyTo(messageId).catch(() => undefined);
      if (!reply) {
        problems.push(`${inputs.map((i) => i.label).join(', ')}: no reply`);
        continue;
      }
      for (const input of inputs) {
        const problem = checkRefusal(reply.parsed.text ?? '', input);
        if (problem) problems.push(problem);
      }
      if (svc.balance('email', sender(n)) !== FREE) problems.push(`mail ${n}: balance changed`);
    }
    expect(problems).toEqual([]);
    // One answer per mail, however many files it held.
    for (const { messageId } of mails) expect(sink.mails.filter((m) => m.parsed.inReplyTo === messageId)).toHaveLength(1);
  }, 300_000);

  it('takes real audio in any odd shape from one mail, and names each file past the per-message limit', async () => {
    const extras = refused.filter((i) => i.name === 'random.mp3' || i.name === 'photo.png' || i.name === 'image.mp3');
    const files = [...audio, ...extras];
    expect(files.length).toBeGreaterThan(CORPUS_LIMITS.maxFilesPerMessage);
    await mailWith(500, '<album@c500.test>', files);

    const order = await svc.waitForOrder((o) => o.senderId === sender(500) && (o.state === 'delivered' || o.state === 'failed'), 180_000);
    expect(order.state).toBe('delivered');
    const quote = await replyTo('<album@c500.test>');
    const done = await replyTo('<album@c500.test>', (m) => m.parsed.attachments.length > 0);
    const status = quote.parsed.text ?? '';
    expectFilesUpToLimit(status, files);
    expect(svc.balance('email', sender(500))).toBe(FREE - order.seconds);
    expect(done.parsed.text).toMatch(/silence\.ogg: I heard no speech/);
  }, 300_000);

  it('leaves an HTML body’s inline logo and a signature out of the answer, and answers a mail with only those with help', async () => {
    const recording = audio.find((i) => i.name === 'lying.ogg')!;
    const html = '<p>My recording is attached.</p><p>--<br><img src="cid:logo@c600.test" alt="Logo"></p>';
    const signature = Buffer.from('-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n');
    await dovecot.append(
      await buildMail({
        from: sender(600),
        to: SERVICE,
        subject: 'With a logo',
        messageId: '<logo@c600.test>',
        text: 'My recording is attached.\n--\nCompany',
        html,
        attachments: [
          { filename: 'logo.png', content: PNG, contentType: 'image/png', cid: 'logo@c600.test' },
          { filename: 'voice.mp3', content: recording.content, contentType: 'audio/mpeg' },
          { filename: 'signature.asc', content: signature, contentType: 'application/pgp-signature' },
        ],
      }),
    );
    await dovecot.append(
      await buildMail({
        from: sender(601),
        to: SERVICE,
        subject: 'Hello',
        messageId: '<only-logo@c601.test>',
        text: 'What is this address for?\n--\nCompany',
        html: '<p>What is this address for?</p><p>--<br><img src="cid:logo@c601.test"></p>',
        attachments: [{ filename: 'logo.png', content: PNG, contentType: 'image/png', cid: 'logo@c601.test' }],
      }),
    );
    const quote = await replyTo('<logo@c600.test>');
    expect(quote.parsed.text).toContain('voice.mp3');
    expect(quote.parsed.text).not.toContain('logo.png');
    expect(quote.parsed.text).not.toContain('signature.asc');
    const help = await replyTo('<only-logo@c601.test>');
    expect(help.parsed.text).toContain('Please send an audio or video file');
    expect(help.parsed.text).not.toContain('logo.png');
  }, 180_000);

  it('sends nothing empty and stays up: health answers and a real recording is transcribed', async () => {
    const voice = await readFile(await spokenFile(dir, 'check.ogg', CHECK_SENTENCE));
    await dovecot.append(
      await buildMail({
        from: sender(700),
        to: SERVICE,
        subject: 'Check',
        messageId: '<check@c700.test>',
        attachments: [{ filename: 'check.ogg', content: voice, contentType: 'audio/ogg' }],
      }),
    );
    const done = await replyTo('<check@c700.test>', (m) => m.parsed.attachments.some((a) => a.filename?.endsWith('_result.json')));
    const json = done.parsed.attachments.find((a) => a.filename!.endsWith('_result.json'))!.content.toString();
    expect((JSON.parse(json) as { text: string }).text.toLowerCase()).toContain('quarterly');

    const health = await fetch(`${svc.url}/healthz`);
    expect(health.status).toBe(200);
    for (const m of sink.mails) {
      expect((m.parsed.text ?? '').trim(), m.parsed.subject).not.toBe('');
      for (const a of m.parsed.attachments) expect(a.content.length, a.filename).toBeGreaterThan(0);
    }
  }, 180_000);
});
