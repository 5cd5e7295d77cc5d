import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { ImapFlow, type MessageStructureObject } from 'imapflow';
import type { Logger } from '../src/log';
import { backoff } from '../src/retry/backoff';

/** One unseen message, its header already fetched; the body is downloaded only when asked for. */
export interface FetchedMail {
  uid: number;
  header: Buffer;
  size: number;
  structure?: MessageStructureObject;
  /** Streams the whole raw message (fetched in chunks, never held whole). */
  source(): Promise<Readable>;
}

/** `seen`: done with it, flag it so it is never fetched again; `retry`: leave it unseen for a later pass. */
export type MailOutcome = 'seen' | 'retry';
export type MailProcessor = (mail: FetchedMail) => Promise<MailOutcome>;

export interface MailboxOptions {
  host: string;
  port: number;
  secure: boolean;
  user: string;
  password: string;
  mailbox: string;
  tls?: { rejectUnauthorized?: boolean };
  log: Logger;
  reconnect?: { minMs?: number; maxMs?: number };
  /** Delay before a pass that retries messages whose processing failed; doubles up to reconnect max. */
  retryMs?: number;
}

interface MailboxEvents {
  connected: [];
  disconnected: [];
  /** After a message was processed; `seen` ones are flagged by then. */
  processed: [uid: number, outcome: MailOutcome];
}

/**
 * Watches one IMAP mailbox: IDLE for new mail, a pass over every unseen message on each (re)connect and
 * each new-mail notice, reconnect with backoff when the server goes away. Messages are handled one at a
 * time and flagged \Seen only once the processor says they are done, so a crash or a lost connection
 * leaves them unseen for the next pass.
 */
export class MailboxWatcher extends EventEmitter<MailboxEvents> {
  private client?: ImapFlow;
  private stopping = false;
  private running?: Promise<void>;
  private again = false;
  private failures = 0;
  private retryFailures = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private processor?: MailProcessor;

  constructor(private readonly options: MailboxOptions) {
    super();
  }

  /** Whether the connection is waiting in IDLE for new mail. */
  get idling(): boolean {
    return this.client?.idling ?? false;
  }

  /** Connects (retrying in the background when the first attempt fails) and starts handing mail to `processor`. */
  async start(processor: MailProcessor): Promise<void> {
    this.processor = processor;
    this.stopping = false;
    await this.connect();
  }

  /** Stops watching; resolves once the message in hand is finished and the connection is closed. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.retryTimer);
    this.reconnectTimer = this.retryTimer = undefined;
    await this.running;
    const client = this.client;
    this.client = undefined;
    if (client?.usable) await client.logout().catch(() => client.close());
    else client?.close();
  }

  private async connect(): Promise<void> {
    if (this.stopping) return;
    const { log } = this.options;
    const client = new ImapFlow({
      host: this.options.host,
      port: this.options.port,
      secure: this.options.secure,
      auth: { user: this.options.user, pass: this.options.password },
      tls: this.options.tls,
      // imapflow's own log would carry addresses and subjects; our lines carry ids only.
      logger: false,
      connectionTimeout: 30_000,
      // Re-issue IDLE well before servers drop idle connections (RFC 2177: 29 minutes).
      maxIdleTime: 5 * 60_000,
      // Start IDLE soon after the last command; imapflow's default waits 15 s, delaying new-mail notices.
      autoIdleDelay: 1_000,
    });
    client.on('error', (err: Error) => log.warn({ err: err.message }, 'imap connection error'));
    client.on('exists', () => this.kick());
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.emit('disconnected');
      if (!this.stopping) {
        log.warn('imap connection closed; reconnecting');
        this.scheduleReconnect();
      }
    });
    this.client = client;
    try {
      await client.connect();
      await client.mailboxOpen(this.options.mailbox);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'imap connect failed');
      if (this.client === client) {
        this.client = undefined;
        client.close();
        this.scheduleReconnect();
      }
      return;
    }
    if (this.stopping) return;
    this.failures = 0;
    log.info({ mailbox: this.options.mailbox }, 'imap connected');
    this.emit('connected');
    this.kick();
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    const min = this.options.reconnect?.minMs ?? 1_000;
    const max = this.options.reconnect?.maxMs ?? 60_000;
    const delay = backoff(++this.failures, min, max);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
  }

  /** Runs a pass now, or right after the current one when a pass is under way. */
  private kick(): void {
    if (this.stopping) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopping);
    })().finally(() => {
      this.running = undefined;
    });
  }

  private async pass(): Promise<void> {
    const client = this.client;
    if (!client?.usable || !this.processor) return;
    let retry = false;
    try {
      const uids = (await client.search({ seen: false, deleted: false }, { uid: true })) || [];
      for (const uid of uids.sort((a, b) => a - b)) {
        if (this.stopping || this.client !== client) return;
        const outcome = await this.processOne(client, uid);
        if (outcome === 'retry') retry = true;
      }
    } catch (err) {
      // A dropped connection ends the pass; the reconnect starts a fresh one.
      this.options.log.warn({ err: (err as Error).message }, 'imap pass interrupted');
      return;
    }
    if (retry) this.scheduleRetry();
    else this.retryFailures = 0;
  }

  private async processOne(client: ImapFlow, uid: number): Promise<MailOutcome | undefined> {
    const head = await client.fetchOne(String(uid), { uid: true, headers: true, size: true, bodyStructure: true }, { uid: true });
    // Expunged by someone else meanwhile.
    if (!head || !head.headers) return undefined;
    const mail: FetchedMail = {
      uid,
      header: head.headers,
      size: head.size ?? 0,
      structure: head.bodyStructure,
      source: async () => {
        const download = await client.download(String(uid), undefined, { uid: true, chunkSize: 1024 * 1024 });
        if (!download.content) throw new Error(`message ${uid} vanished`);
        return download.content;
      },
    };
    let outcome: MailOutcome;
    try {
      outcome = await this.processor!(mail);
    } catch (err) {
      this.options.log.warn({ uid, err: (err as Error).message }, 'mail processing failed; will retry');
      outcome = 'retry';
    }
    if (outcome === 'seen') await client.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true });
    this.emit('processed', uid, outcome);
    return outcome;
  }

  private scheduleRetry(): void {
    if (this.stopping || this.retryTimer) return;
    const base = this.options.retryMs ?? 30_000;
    const max = Math.max(base, this.options.reconnect?.maxMs ?? 60_000);
    const delay = backoff(++this.retryFailures, base, max);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, delay);
  }
}
