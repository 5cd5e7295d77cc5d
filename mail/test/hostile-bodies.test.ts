import { Readable } from 'node:stream';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log';
import type { IncomingMessage } from '../../src/ports/channel';
import { startDovecot, type TestDovecot } from '../../test/support/dovecot';
import { htmlToPlain } from '../html-text';
import { Inbound } from '../inbound';
import type { FetchedMail } from '../mailbox';
import { SenderPolicy } from '../sender-policy';

/**
 * Mail bodies built to hurt the service, through the real IMAP server: text parts the server's structure hides
 * from the 4 MiB text cap, HTML that makes an HTML-to-text conversion block or overflow, a part with no type.
 * Each is fetched back as the mailbox does it (header, BODYSTRUCTURE, source) and handed to the inbound side.
 */
let dovecot: TestDovecot;
beforeAll(async () => {
  dovecot = await startDovecot();
});
afterAll(async () => {
  await dovecot?.close();
});

async function fetched(raw: Buffer): Promise<FetchedMail> {
  await dovecot.append(raw);
  const client = new ImapFlow({
    host: dovecot.host,
    port: dovecot.port,
    secure: false,
    auth: { user: dovecot.user, pass: dovecot.password },
    logger: false,
  });
  await client.connect();
  try {
    await client.mailboxOpen('INBOX');
    const uid = Math.max(...((await client.search({ all: true }, { uid: true })) || []));
    const head = await client.fetchOne(String(uid), { uid: true, headers: true, size: true, bodyStructure: true }, { uid: true });
    if (!head) throw new Error(`mail ${uid} could not be fetched back`);
    return { uid, header: head.headers!, size: head.size ?? 0, structure: head.bodyStructure, source: async () => Readable.from([raw]) };
  } finally {
    await client.logout();
  }
}

/** The inbound side with the messages it hands the core. */
function inbound(): { ib: Inbound; got: IncomingMessage[] } {
  const got: IncomingMessage[] = [];
  const policy = new SenderPolicy({ senderAuth: 'none', ownAddresses: ['service@example.test'] });
  const ib = new Inbound({ onMessage: async (m) => void got.push(m), policy, maxFileBytes: 1_000_000, log: silentLogger });
  return { ib, got };
}

const head = (id: string, contentType: string) =>
  `From: ann@ann.test\r\nTo: service@example.test\r\nSubject: s\r\nMessage-ID: <${id}@ann.test>\r\nMIME-Version: 1.0\r\n` +
  `Content-Type: ${contentType}\r\n\r\n`;
const recording =
  '--b\r\nContent-Type: audio/mpeg\r\nContent-Disposition: attachment; filename="talk.mp3"\r\n' +
  'Content-Transfer-Encoding: base64\r\n\r\nSUQzBAAAAAAA\r\n';
/** 5.4 MB of text: past the 4 MiB a mail's text may hold. */
const big = ('x'.repeat(75) + '\r\n').repeat(70_000);

describe('a mail body built to hurt the service', () => {
  it('is left unanswered when its text goes past 4 MiB, however the structure was made to hide it from the server', async () => {
    const cases: [string, string, string][] = [
      ['plain', 'multipart/mixed; boundary="b"', `--b\r\nContent-Type: text/plain\r\n\r\n${big}\r\n--b--\r\n`],
      ['delivery-status', 'multipart/mixed; boundary="b"', `--b\r\nContent-Type: message/delivery-status\r\n\r\n${big}\r\n--b--\r\n`],
      [
        'two-dispositions',
        'multipart/mixed; boundary="b"',
        `--b\r\nContent-Type: text/plain\r\nContent-Disposition: inline\r\nContent-Disposition: attachment\r\n\r\n${big}\r\n--b--\r\n`,
      ],
      ['two-boundaries', 'multipart/mixed; boundary="a"; boundary="b"', `--b\r\nContent-Type: text/plain\r\n\r\n${big}\r\n--b--\r\n`],
    ];
    for (const [name, contentType, body] of cases) {
      const { ib, got } = inbound();
      expect(await ib.handleMail(await fetched(Buffer.from(head(name, contentType) + body))), name).toBe('seen');
      expect(got, name).toEqual([]);
    }
  });

  it('is taken with its recording when the large text is an attached file, not the mail text', async () => {
    const { ib, got } = inbound();
    const notes = `--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="notes.txt"\r\n\r\n${big}\r\n`;
    await ib.handleMail(await fetched(Buffer.from(head('notes', 'multipart/mixed; boundary="b"') + notes + recording + '--b--\r\n')));
    expect(got.map((m) => m.attachments.map((a) => a.name))).toEqual([['notes.txt', 'talk.mp3']]);
  });

  it('takes the recording beside HTML nested 8,000 levels deep', async () => {
    const { ib, got } = inbound();
    const html = '<div>'.repeat(8_000) + 'hi';
    const raw =
      head('deep', 'multipart/mixed; boundary="b"') +
      `--b\r\nContent-Type: text/plain\r\n\r\nPlease transcribe.\r\n--b\r\nContent-Type: text/html\r\n\r\n${html}\r\n${recording}--b--\r\n`;
    expect(await ib.handleMail(await fetched(Buffer.from(raw)))).toBe('seen');
    expect(got.map((m) => m.attachments.map((a) => a.name))).toEqual([['talk.mp3']]);
  });

  it('reads the choices of a mail whose only text is HTML, and no more of it than its start', async () => {
    const { ib, got } = inbound();
    const html = '<html><body><p>Hello,</p><p>format: vtt<br>language: de</p>' + '<ol><li>'.repeat(50_000) + '</body></html>';
    const raw =
      head('html-only', 'multipart/mixed; boundary="b"') + `--b\r\nContent-Type: text/html\r\n\r\n${html}\r\n${recording}--b--\r\n`;
    expect(await ib.handleMail(await fetched(Buffer.from(raw)))).toBe('seen');
    expect([...got[0]!.choices!].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'format', args: 'vtt' },
      { name: 'language', args: 'de' },
    ]);
    expect(got[0]!.attachments.map((a) => a.name)).toEqual(['talk.mp3']);
  });

  it('takes the recording beside a part whose Content-Type names no type', async () => {
    const { ib, got } = inbound();
    const raw =
      head('no-type', 'multipart/mixed; boundary="b"') + `--b\r\nContent-Type: ; charset=utf-8\r\n\r\nhello\r\n${recording}--b--\r\n`;
    expect(await ib.handleMail(await fetched(Buffer.from(raw)))).toBe('seen');
    // The part without a type is handed on as a file of no known type (named in the answer as skipped), not a crash.
    expect(got.map((m) => m.attachments.map((a) => [a.name, a.mimeType]))).toEqual([
      [
        ['attachment-1', 'application/octet-stream'],
        ['talk.mp3', 'audio/mpeg'],
      ],
    ]);
  });
});

describe('the text read from an HTML body', () => {
  it('drops tags, scripts and styles, breaks lines at blocks and decodes entities', () => {
    const html = '<style>p{}</style><p>format:&nbsp;vtt</p><script>var format = "x";</script><div>caf&eacute; &amp; &#233;&#x41;</div>';
    expect(htmlToPlain(html)).toBe('format: vtt\ncaf&eacute; & éA\n');
  });

  it('reads an unclosed script or a flood of tags without scanning the rest again for each', () => {
    expect(htmlToPlain('<p>language: de</p><script>' + '<script>'.repeat(8_000))).toBe('language: de\n');
    expect(htmlToPlain('<b>'.repeat(20_000) + 'ok')).toBe('ok');
  });
});

describe('a mail forwarded as an attachment', () => {
  const forwarded = (inner: string) =>
    head('fwd', 'multipart/mixed; boundary="b"') +
    '--b\r\nContent-Type: text/plain\r\n\r\nSee the recording below.\r\n' +
    `--b\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fwd.eml"\r\n\r\n${inner}\r\n--b--\r\n`;

  it('hands on the files of the forwarded mail', async () => {
    const { ib, got } = inbound();
    const inner = head('inner', 'multipart/mixed; boundary="c"') + 'Hi,\r\n' + recording.replaceAll('--b', '--c') + '--c--\r\n';
    expect(await ib.handleMail(await fetched(Buffer.from(forwarded(inner))))).toBe('seen');
    expect(got.map((m) => m.attachments.map((a) => [a.name, a.mimeType]))).toEqual([[['talk.mp3', 'audio/mpeg']]]);
  });

  it('names a forwarded mail without files as what it is, for the answer to say it was skipped', async () => {
    const { ib, got } = inbound();
    const inner = head('inner-text', 'text/plain') + 'Just words.\r\n';
    expect(await ib.handleMail(await fetched(Buffer.from(forwarded(inner))))).toBe('seen');
    expect(got.map((m) => m.attachments.map((a) => [a.name, a.mimeType]))).toEqual([[['fwd.eml', 'message/rfc822']]]);
  });
});
