import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** One mail the sink received: the envelope, the raw bytes and mailparser's view of them. */
export interface SunkMail {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  parsed: ParsedMail;
}

/** An SMTP server on loopback that keeps every mail it is given. */
export interface SmtpSink {
  host: string;
  port: number;
  mails: SunkMail[];
  /** The most connections open at once so far. */
  peakConnections(): number;
  /** Resolves once at least `count` mails arrived (or rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<SunkMail[]>;
  /** Resolves with the first mail, already here or still to come, that matches. */
  waitForMail(predicate: (mail: SunkMail) => boolean, timeoutMs?: number): Promise<SunkMail>;
  /** Stalls: every mail's DATA is read and then left unanswered, as a server that hangs, until `release`. */
  stall(): void;
  /** Answers the stalled mails and takes new ones at once again. */
  release(): void;
  /** Mails whose DATA arrived while stalled and has not been answered yet. */
  readonly stalled: number;
  close(): Promise<void>;
}

/**
 * Starts nodemailer's smtp-server without TLS or auth; recipients in `refuse` get a 550. `maxClients` makes it
 * refuse connections beyond that many with a 421, as mail providers do; `maxMessageBytes` refuses larger mails with a 552.
 */
export async function startSmtpSink(options: { refuse?: string[]; maxClients?: number; maxMessageBytes?: number } = {}): Promise<SmtpSink> {
  const mails: SunkMail[] = [];
  let open = 0;
  let peak = 0;
  const waiters = new Set<() => void>();
  const refuse = new Set((options.refuse ?? []).map((a) => a.toLowerCase()));
  let stalling = false;
  const held: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    ...(options.maxClients ? { maxClients: options.maxClients } : {}),
    onConnect(_session, callback) {
      open += 1;
      peak = Math.max(peak, open);
      callback();
    },
    onClose() {
      open -= 1;
    },
    onRcptTo(address, _conn, callback) {
      if (refuse.has(address.address.toLowerCase())) {
        const err = Object.assign(new Error('mailbox unavailable'), { responseCode: 550 });
        return callback(err);
      }
      callback();
    },
    onData(stream, conn, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        // As mail servers do past their SIZE limit: a permanent refusal of this mail.
        if (options.maxMessageBytes !== undefined && raw.length > options.maxMessageBytes)
          return callback(Object.assign(new Error('message exceeds fixed maximum message size'), { responseCode: 552 }));
        const envelope = {
          from: conn.envelope.mailFrom ? conn.envelope.mailFrom.address : '',
          to: conn.envelope.rcptTo.map((r) => r.address),
        };
        const stalled = stalling ? new Promise<void>((resume) => held.push(resume)) : Promise.resolve();
        Promise.all([simpleParser(raw), stalled]).then(
          ([parsed]) => {
            mails.push({ envelope, raw, parsed });
            for (const w of waiters) w();
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as { port: number };
  return {
    host: '127.0.0.1',
    port,
    mails,
    peakConnections: () => peak,
    waitFor: (count, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (mails.length < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(mails.slice());
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${count} mails, got ${mails.length}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    waitForMail: (predicate, timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const hit = mails.find(predicate);
          if (!hit) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching mail among ${mails.length}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    stall: () => {
      stalling = true;
    },
    release: () => {
      stalling = false;
      for (const resume of held.splice(0)) resume();
    },
    get stalled() {
      return held.length;
    },
    close: () => {
      stalling = false;
      for (const resume of held.splice(0)) resume();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
