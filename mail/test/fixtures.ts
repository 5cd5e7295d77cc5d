import { buffer } from 'node:stream/consumers';
import MailComposer from 'nodemailer/lib/mail-composer';
import type Mail from 'nodemailer/lib/mailer';
import type { IncomingMessage, MessageHandler } from '../../src/ports/channel';
import type { MailOutcome } from '../mailbox';
import type { MailChannel } from '../channel';

/** Builds a raw RFC 5322 message. */
export const buildMail = (options: Mail.Options, extraHeaders: Record<string, string> = {}): Promise<Buffer> =>
  new MailComposer({ ...options, headers: { ...extraHeaders, ...(options.headers as Record<string, string>) } }).compile().build();

/**
 * Puts a header field on top of a raw message, byte for byte, as a receiving server prepends its own: `buildMail`
 * would encode a value with quotes and `;` as encoded words, which no server does for `Authentication-Results`.
 */
export const prependField = (raw: Buffer, name: string, value: string): Buffer =>
  Buffer.concat([Buffer.from(`${name}: ${value}\r\n`), raw]);

/** The `Authentication-Results` the receiving server `authservId` writes on genuine mail from `domain`: SPF, DKIM and DMARC pass. */
export const passedAuth = (authservId: string, domain: string): string =>
  `${authservId}; spf=pass smtp.mailfrom=${domain}; dkim=pass header.d=${domain}; dmarc=pass header.from=${domain}`;

/** A raw message (`buildMail`) from `domain` as its receiving server `authservId` delivers it once checked: `passedAuth`. */
export const genuineMail = (
  authservId: string,
  domain: string,
  options: Mail.Options,
  extraHeaders: Record<string, string> = {},
): Promise<Buffer> => buildMail(options, { 'Authentication-Results': passedAuth(authservId, domain), ...extraHeaders });

/** What the core would keep of a message: its fields and every attachment's bytes, read inside the handler. */
export interface Received {
  message: IncomingMessage;
  files: { name: string; mimeType?: string; bytes?: Buffer; refusal?: string }[];
}

/** A handler that records like the core: reads every attachment before resolving. */
export function recordingHandler(behaviour: { fail?: (m: IncomingMessage) => boolean; hold?: Promise<void> } = {}) {
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  let enter!: () => void;
  const entered = new Promise<void>((r) => (enter = r));
  const handler: MessageHandler = async (message) => {
    enter();
    const files: Received['files'] = [];
    for (const a of message.attachments) {
      try {
        files.push({ name: a.name, mimeType: a.mimeType, bytes: await buffer(await a.open()) });
      } catch (err) {
        files.push({
          name: a.name,
          mimeType: a.mimeType,
          // The message too: it is the clause the user reads after the file's name.
          refusal: `${(err as Error).name}:${(err as { reason?: string }).reason ?? ''}: ${(err as Error).message}`,
        });
      }
    }
    await behaviour.hold;
    if (behaviour.fail?.(message)) throw new Error('database busy');
    received.push({ message, files });
    for (const w of waiters) w();
  };
  const waitFor = (count: number, timeoutMs = 60_000) =>
    new Promise<Received[]>((resolve, reject) => {
      const check = () => {
        if (received.length < count) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(received.slice());
      };
      const timer = setTimeout(() => reject(new Error(`expected ${count} messages, got ${received.length}`)), timeoutMs);
      waiters.add(check);
      check();
    });
  return { handler, received, waitFor, entered };
}

/** Resolves on the next `processed` event whose outcome matches. */
export const nextProcessed = (channel: MailChannel, outcome?: MailOutcome): Promise<number> =>
  new Promise((resolve) => {
    const on = (uid: number, o: MailOutcome) => {
      if (outcome && o !== outcome) return;
      channel.events.off('processed', on);
      resolve(uid);
    };
    channel.events.on('processed', on);
  });

/** Resolves on the next lifecycle event. */
export const next = (channel: MailChannel, event: 'connected' | 'disconnected'): Promise<void> =>
  new Promise((resolve) => channel.events.once(event, () => resolve()));
