import { createServer, type IncomingMessage as HttpRequest, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One Bot API call the bot made, as the server decoded it. */
export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  /** Uploaded files of a multipart call, by field name. */
  files: Record<string, { filename: string; content: Buffer }>;
  /** When the call arrived (ms since the epoch). */
  at?: number;
}

/** A message the bot posted (sendMessage, sendDocument), with the id the server gave it. */
export interface SentMessage {
  message_id: number;
  chat_id: string;
  method: string;
  text?: string;
  reply_to?: number;
  reply_markup?: unknown;
  document?: { filename: string; content: Buffer };
  /** sendInvoice: the invoice as the bot sent it. */
  invoice?: { title: string; description: string; payload: string; currency: string; prices: { label: string; amount: number }[] };
  /** Text after the latest editMessageText, and its markup. */
  edits: { text: string; reply_markup?: unknown }[];
}

/** A scripted failure for the next call(s) of a method. */
export interface FakeFailure {
  status: number;
  description?: string;
  retryAfter?: number;
  /** Answer with this HTML page instead of a Bot API JSON body, as a proxy in front of Telegram does (413, 502). */
  html?: string;
}

interface StoredFile {
  file_id: string;
  file_unique_id: string;
  file_path: string;
  content: Buffer;
}

/** Options for the fake server. */
/**
 * Send limits for tests that are not about pacing: Telegram's second between sends to one chat (three in a
 * group) is only waiting there. Pacing has its own tests (bots/telegram/test/pacing.test.ts, burst.test.ts).
 */
export const UNPACED = { perSecond: 1000, chatIntervalMs: 10, groupIntervalMs: 10 };

export interface FakeTelegramOptions {
  token?: string;
  botId?: number;
  username?: string;
  /** Answer sends beyond Telegram's flood limits with 429 and `retry_after`, as Telegram does. */
  floodLimits?: boolean;
  /** getFile refuses larger files as the real Bot API does ("file is too big"); 20 MB, Telegram's limit for bots. */
  downloadLimit?: number;
}

/** Calls that post into a chat and count against the limits. */
const SENDS = new Set(['sendMessage', 'sendDocument', 'sendMediaGroup', 'editMessageText']);
/** Telegram's limits: 30 sends a second per bot, one a second per private chat, 20 a minute per group. */
const FLOOD = { perBotPerSecond: 30, perChatPerSecond: 1, perGroupPerMinute: 20 };

/**
 * A small Bot API server on loopback that speaks Telegram's real wire protocol (JSON and multipart
 * requests, `{ok, result}` answers, long-polled getUpdates, `/file/bot<token>/<path>` downloads), records
 * what the bot sends, and can answer with 429/403/5xx on demand.
 */
export class FakeTelegram {
  readonly token: string;
  readonly botId: number;
  readonly username: string;
  readonly calls: RecordedCall[] = [];
  readonly sent: SentMessage[] = [];
  private server?: Server;
  private updates: { update_id: number }[] = [];
  private nextUpdateId = 1000;
  private nextMessageId = 1;
  private files = new Map<string, StoredFile>();
  private failures = new Map<string, FakeFailure[]>();
  private hangs = new Map<string, number>();
  private readonly hung = new Set<ServerResponse>();
  /** Files whose downloads stop, by path: after this many body bytes, or before the headers (undefined). */
  private readonly stalls = new Map<string, number | undefined>();
  /** Groups that became supergroups: old chat id to new. */
  private readonly migrated = new Map<string, number>();
  private pollers = new Set<() => void>();
  private callWaiters = new Set<() => void>();
  /** Bytes served by file downloads, to check nothing was fetched. */
  downloads = 0;
  /** The file_path of every download served. */
  readonly downloaded: string[] = [];
  /** Sends answered 429 by the flood limits, and sends accepted while they were on. */
  readonly flood = { refused: 0, accepted: 0, refusedPerChat: 0, refusedPerBot: 0 };
  private readonly sendTimes: number[] = [];
  private readonly chatSendTimes = new Map<string, number[]>();
  /** Each answerPreCheckoutQuery, in order. */
  readonly preCheckoutAnswers: { id: string; ok: boolean; error_message?: string; at: number }[] = [];
  /** Charges refunded by refundStarPayment, by charge id: the user id it was refunded to. */
  readonly refunds = new Map<string, number>();
  /** Charges this server made (through `paymentUpdate`), by charge id: who paid. */
  private readonly charges = new Map<string, number>();
  private nextPreCheckout = 1;
  private nextCharge = 1;
  /** file_path to hand out instead of the stored relative one (self-hosted servers give absolute paths). */
  filePathOverride?: (fileId: string) => string | undefined;

  constructor(private readonly options: FakeTelegramOptions = {}) {
    this.token = options.token ?? '123456:TEST-token_abc';
    this.botId = options.botId ?? 123456;
    this.username = options.username ?? 'transcribe_test_bot';
    this.downloadLimit = options.downloadLimit ?? 20 * 1024 * 1024;
  }

  private readonly downloadLimit: number;

  /** The apiRoot to give telegraf. */
  get url(): string {
    const address = this.server?.address() as AddressInfo | undefined;
    if (!address) throw new Error('fake Telegram not started');
    return `http://127.0.0.1:${address.port}`;
  }

  /** Starts listening on a random free loopback port, or on `port` (a server coming back where it was). */
  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return this;
  }

  /** Stops the server, ending pending long polls. */
  async stop(): Promise<void> {
    for (const wake of this.pollers) wake();
    for (const res of this.hung) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Stores a downloadable file; returns its file_id. */
  addFile(content: Buffer, filePath?: string): StoredFile {
    const n = this.files.size + 1;
    const file: StoredFile = {
      file_id: `file-${n}-${Math.random().toString(36).slice(2, 8)}`,
      file_unique_id: `u${n}`,
      file_path: filePath ?? `documents/file_${n}.bin`,
      content,
    };
    this.files.set(file.file_id, file);
    return file;
  }

  /** Queues an update (update_id assigned unless given, so a test can resend the same one). */
  pushUpdate(update: Record<string, unknown>): number {
    const update_id = typeof update.update_id === 'number' ? update.update_id : this.nextUpdateId++;
    this.updates.push({ ...update, update_id });
    for (const wake of [...this.pollers]) wake();
    return update_id;
  }

  /** Builds a user message (private chat by default); `extra` adds voice, audio, document, ... */
  message(
    extra: Record<string, unknown>,
    from: { id: number; first_name?: string; language_code?: string } = { id: 42 },
    chatId = from.id,
  ): Record<string, unknown> {
    return {
      message_id: this.nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      chat: { id: chatId, type: chatId === from.id ? 'private' : 'group' },
      from: { is_bot: false, first_name: 'Ada', ...from },
      ...extra,
    };
  }

  /**
   * A pre_checkout_query update for an invoice the bot sent, as Telegram sends it when the payer presses
   * Pay (amount and payload taken from the invoice unless given); returns its query id.
   */
  preCheckout(invoice: SentMessage, from = { id: 42 }, override: { total_amount?: number; invoice_payload?: string } = {}): string {
    const id = `pcq-${this.nextPreCheckout++}`;
    this.pushUpdate({
      pre_checkout_query: {
        id,
        from: { is_bot: false, first_name: 'Ada', ...from },
        currency: invoice.invoice!.currency,
        total_amount: override.total_amount ?? invoice.invoice!.prices.reduce((sum, p) => sum + p.amount, 0),
        invoice_payload: override.invoice_payload ?? invoice.invoice!.payload,
      },
    });
    return id;
  }

  /** Resolves with the bot's answer to one pre-checkout query. */
  async preCheckoutAnswer(id: string, timeoutMs = 60_000): Promise<{ id: string; ok: boolean; error_message?: string; at: number }> {
    return this.waitFor(() => this.preCheckoutAnswers.find((a) => a.id === id), timeoutMs);
  }

  /**
   * The service message Telegram sends after a Stars payment went through (a new charge id unless one is
   * given, to replay it); returns the update with its charge id.
   */
  successfulPayment(
    invoice: SentMessage,
    from = { id: 42 },
    chargeId = `stxCHARGE${this.nextCharge++}`,
  ): { chargeId: string; update: Record<string, unknown> } {
    this.charges.set(chargeId, from.id);
    const update = {
      message: this.message(
        {
          successful_payment: {
            currency: invoice.invoice!.currency,
            total_amount: invoice.invoice!.prices.reduce((sum, p) => sum + p.amount, 0),
            invoice_payload: invoice.invoice!.payload,
            telegram_payment_charge_id: chargeId,
            provider_payment_charge_id: '',
          },
        },
        from,
        Number(invoice.chat_id),
      ),
    };
    return { chargeId, update };
  }

  /**
   * The service message Telegram sends into the chat once a Stars payment was refunded (Bot API
   * `refunded_payment`), by the bot's own `refundStarPayment` or by Telegram.
   */
  refundedPayment(invoice: SentMessage, chargeId: string, from = { id: 42 }): Record<string, unknown> {
    return {
      message: this.message(
        {
          refunded_payment: {
            currency: invoice.invoice!.currency,
            total_amount: invoice.invoice!.prices.reduce((sum, p) => sum + p.amount, 0),
            invoice_payload: invoice.invoice!.payload,
            telegram_payment_charge_id: chargeId,
          },
        },
        from,
        Number(invoice.chat_id),
      ),
    };
  }

  /** Makes the next `count` calls of `method` fail. */
  failNext(method: string, failure: FakeFailure, count = 1): void {
    const queue = this.failures.get(method) ?? [];
    for (let i = 0; i < count; i++) queue.push(failure);
    this.failures.set(method, queue);
  }

  /**
   * The file's download stops: after `afterBytes` of its body (the headers sent), or before any answer at all when
   * absent. The connection stays open, as a server that stopped sending.
   */
  stallDownload(filePath: string, afterBytes?: number): void {
    this.stalls.set(filePath, afterBytes);
  }

  /** The group `chatId` became the supergroup `to`: every call to the old id is refused naming the new one. */
  migrateGroup(chatId: number, to: number): void {
    this.migrated.set(String(chatId), to);
  }

  /** Makes the next `count` calls of `method` get no answer at all, as a server that stopped answering. */
  hangNext(method: string, count = 1): void {
    this.hangs.set(method, (this.hangs.get(method) ?? 0) + count);
  }

  /** The recorded calls of one method. */
  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Resolves once `predicate` holds over the recorded calls (checked after each call). */
  async waitFor<T>(predicate: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = predicate();
      if (value) return value;
      if (Date.now() > deadline) throw new Error('fake Telegram: condition not met in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 100);
        this.callWaiters.add(done);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  }

  private async route(req: HttpRequest, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const filePrefix = `/file/bot${this.token}/`;
    if (req.method === 'GET' && url.pathname.startsWith(filePrefix)) {
      const path = decodeURIComponent(url.pathname.slice(filePrefix.length));
      const file = [...this.files.values()].find((f) => f.file_path === path);
      if (!file) return this.reply(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
      this.downloads += file.content.length;
      this.downloaded.push(file.file_path);
      if (this.stalls.has(path)) {
        const afterBytes = this.stalls.get(path);
        if (afterBytes !== undefined) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.content.length });
          res.write(file.content.subarray(0, afterBytes));
        }
        this.hung.add(res);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.content.length });
      res.end(file.content);
      return;
    }
    const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    if (!match) return this.reply(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    if (match[1] !== this.token) return this.reply(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const method = match[2];
    const { params, files } = await readParams(req, url);
    this.calls.push({ method, params, files, at: Date.now() });
    for (const wake of [...this.callWaiters]) wake();
    this.callWaiters.clear();

    const hangs = this.hangs.get(method) ?? 0;
    if (hangs > 0) {
      this.hangs.set(method, hangs - 1);
      this.hung.add(res);
      return;
    }
    const migratedTo = params.chat_id === undefined ? undefined : this.migrated.get(String(params.chat_id as string | number));
    if (migratedTo !== undefined) {
      return this.reply(res, 400, {
        ok: false,
        error_code: 400,
        description: 'Bad Request: group chat was upgraded to a supergroup chat',
        parameters: { migrate_to_chat_id: migratedTo },
      });
    }
    const failure = this.failures.get(method)?.shift();
    if (failure) {
      if (failure.html !== undefined) {
        res.writeHead(failure.status, { 'content-type': 'text/html' });
        res.end(failure.html);
        return;
      }
      if (failure.status >= 500) {
        res.writeHead(failure.status, { 'content-type': 'text/plain' });
        res.end('Bad Gateway');
        return;
      }
      return this.reply(res, failure.status, {
        ok: false,
        error_code: failure.status,
        description: failure.description ?? defaultDescription(failure.status, failure.retryAfter),
        ...(failure.retryAfter !== undefined ? { parameters: { retry_after: failure.retryAfter } } : {}),
      });
    }
    if (this.options.floodLimits && SENDS.has(method)) {
      const retryAfter = this.overLimit(String(params.chat_id));
      if (retryAfter !== undefined) {
        this.flood.refused += 1;
        return this.reply(res, 429, {
          ok: false,
          error_code: 429,
          description: `Too Many Requests: retry after ${retryAfter}`,
          parameters: { retry_after: retryAfter },
        });
      }
      this.flood.accepted += 1;
    }
    await this.answer(method, params, files, req, res);
  }

  /**
   * Counts a send against the limits; seconds to wait when it is over one (nothing counted then). Private chats
   * have positive ids, groups negative ones.
   */
  private overLimit(chatId: string): number | undefined {
    const now = Date.now();
    const group = chatId.startsWith('-');
    const windowMs = group ? 60_000 : 1000;
    const allowed = group ? FLOOD.perGroupPerMinute : FLOOD.perChatPerSecond;
    const chat = (this.chatSendTimes.get(chatId) ?? []).filter((t) => t > now - windowMs);
    this.chatSendTimes.set(chatId, chat);
    while (this.sendTimes.length > 0 && this.sendTimes[0]! <= now - 1000) this.sendTimes.shift();
    const waits: number[] = [];
    if (chat.length >= allowed) {
      this.flood.refusedPerChat += 1;
      waits.push(chat[0]! + windowMs - now);
    }
    if (this.sendTimes.length >= FLOOD.perBotPerSecond) {
      this.flood.refusedPerBot += 1;
      waits.push(this.sendTimes[0]! + 1000 - now);
    }
    if (waits.length > 0) return Math.max(1, Math.ceil(Math.max(...waits) / 1000));
    chat.push(now);
    this.sendTimes.push(now);
    return undefined;
  }

  private async answer(
    method: string,
    params: Record<string, unknown>,
    files: RecordedCall['files'],
    req: HttpRequest,
    res: ServerResponse,
  ): Promise<void> {
    const ok = (result: unknown) => this.reply(res, 200, { ok: true, result });
    switch (method) {
      case 'getMe':
        return ok({ id: this.botId, is_bot: true, first_name: 'Transcribe', username: this.username });
      case 'deleteWebhook':
      case 'setMyCommands':
      case 'sendChatAction':
      case 'answerCallbackQuery':
      case 'setWebhook':
        return ok(true);
      case 'getUpdates':
        return ok(await this.poll(params, req));
      case 'getFile': {
        const file = this.files.get(String(params.file_id));
        if (!file) return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: invalid file_id' });
        if (file.content.length > this.downloadLimit)
          return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: file is too big' });
        const filePath = this.filePathOverride?.(file.file_id) ?? file.file_path;
        return ok({ file_id: file.file_id, file_unique_id: file.file_unique_id, file_size: file.content.length, file_path: filePath });
      }
      case 'answerPreCheckoutQuery': {
        const id = String(params.pre_checkout_query_id);
        const accepted = params.ok === true || params.ok === 'true';
        // Telegram insists on a reason for a refusal: the payer sees it.
        if (!accepted && !params.error_message)
          return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: ERROR_MESSAGE_EMPTY' });
        this.preCheckoutAnswers.push({ id, ok: accepted, error_message: params.error_message as string | undefined, at: Date.now() });
        return ok(true);
      }
      case 'refundStarPayment': {
        const chargeId = String(params.telegram_payment_charge_id);
        const payer = this.charges.get(chargeId);
        if (payer === undefined || payer !== Number(params.user_id))
          return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: CHARGE_NOT_FOUND' });
        if (this.refunds.has(chargeId))
          return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: CHARGE_ALREADY_REFUNDED' });
        this.refunds.set(chargeId, payer);
        return ok(true);
      }
      case 'sendInvoice': {
        if (params.currency === 'XTR' && params.provider_token)
          return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: provider_token must be empty for XTR' });
        const message = this.record(method, params, files);
        message.invoice = {
          title: String(params.title),
          description: String(params.description),
          payload: String(params.payload),
          currency: String(params.currency),
          prices: params.prices as { label: string; amount: number }[],
        };
        return ok({
          message_id: message.message_id,
          date: Math.floor(Date.now() / 1000),
          chat: { id: Number(message.chat_id), type: 'private' },
        });
      }
      case 'sendMessage':
      case 'sendDocument': {
        // The real Bot API refuses an empty upload outright, which a sender must treat as permanent.
        if (method === 'sendDocument' && files.document?.content.length === 0) {
          return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: file must be non-empty' });
        }
        const message = this.record(method, params, files);
        return ok({
          message_id: message.message_id,
          date: Math.floor(Date.now() / 1000),
          chat: { id: Number(message.chat_id), type: 'private' },
          text: message.text,
        });
      }
      case 'editMessageText': {
        const target = this.sent.find((m) => m.chat_id === String(params.chat_id) && m.message_id === Number(params.message_id));
        if (!target) return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message to edit not found' });
        const current = target.edits.at(-1) ?? { text: target.text ?? '', reply_markup: target.reply_markup };
        const text = String(params.text);
        if (current.text === text && JSON.stringify(current.reply_markup ?? null) === JSON.stringify(params.reply_markup ?? null)) {
          return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message is not modified' });
        }
        target.edits.push({ text, reply_markup: params.reply_markup });
        return ok({
          message_id: target.message_id,
          date: Math.floor(Date.now() / 1000),
          chat: { id: Number(target.chat_id), type: 'private' },
          text,
        });
      }
      default:
        return this.reply(res, 404, { ok: false, error_code: 404, description: 'Not Found: method not found' });
    }
  }

  private record(method: string, params: Record<string, unknown>, files: RecordedCall['files']): SentMessage {
    const replyParameters = params.reply_parameters as { message_id?: number } | undefined;
    const replyTo =
      replyParameters?.message_id ?? (params.reply_to_message_id !== undefined ? Number(params.reply_to_message_id) : undefined);
    const message: SentMessage = {
      message_id: 100_000 + this.sent.length,
      chat_id: String(params.chat_id),
      method,
      text: typeof params.text === 'string' ? params.text : typeof params.caption === 'string' ? params.caption : undefined,
      reply_to: replyTo,
      reply_markup: params.reply_markup,
      document: files.document,
      edits: [],
    };
    this.sent.push(message);
    return message;
  }

  private async poll(params: Record<string, unknown>, req: HttpRequest): Promise<unknown[]> {
    const offset = Number(params.offset ?? 0);
    const limit = Number(params.limit ?? 100);
    const timeoutSeconds = Number(params.timeout ?? 0);
    // Telegram forgets every update below the offset the bot confirms.
    if (offset > 0) this.updates = this.updates.filter((u) => u.update_id >= offset);
    const ready = () => this.updates.filter((u) => u.update_id >= offset).slice(0, limit);
    if (ready().length === 0 && timeoutSeconds > 0) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.pollers.delete(wake);
          req.off('close', wake);
          resolve();
        };
        const timer = setTimeout(wake, timeoutSeconds * 1000);
        this.pollers.add(wake);
        req.on('close', wake);
      });
    }
    return ready();
  }

  private reply(res: ServerResponse, status: number, body: unknown): void {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }
}

function defaultDescription(status: number, retryAfter?: number): string {
  if (status === 429) return `Too Many Requests: retry after ${retryAfter ?? 1}`;
  if (status === 403) return 'Forbidden: bot was blocked by the user';
  if (status === 400) return 'Bad Request';
  return 'Error';
}

/** Decodes Bot API parameters from the query string, a JSON body, a urlencoded body or multipart form data. */
async function readParams(req: HttpRequest, url: URL): Promise<{ params: Record<string, unknown>; files: RecordedCall['files'] }> {
  const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
  const files: RecordedCall['files'] = {};
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const type = req.headers['content-type'] ?? '';
  if (body.length === 0) return { params, files };
  if (type.startsWith('application/json')) {
    Object.assign(params, JSON.parse(body.toString('utf8')));
  } else if (type.startsWith('multipart/form-data') || type.startsWith('application/x-www-form-urlencoded')) {
    const form = await new Response(body, { headers: { 'content-type': type } }).formData();
    for (const [key, value] of form.entries()) {
      if (typeof value === 'string') params[key] = parseField(value);
      else files[key] = { filename: value.name, content: Buffer.from(await value.arrayBuffer()) };
    }
  }
  return { params, files };
}

/** Multipart fields carry objects as JSON text (reply_markup, reply_parameters). */
function parseField(value: string): unknown {
  if (/^[[{]/.test(value)) {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}
