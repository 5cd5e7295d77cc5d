import { createServer, type IncomingMessage as HttpRequest, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/** A file the bot uploaded with a message. */
export interface UploadedFile {
  name: string;
  contentType?: string;
  content: Buffer;
}

/** A message the bot posted, with the id the server gave it and every later edit. */
export interface SentMessage {
  id: string;
  /** Where it went: a channel message, the answer replacing a slash command's placeholder, or a follow-up to one. */
  via: 'channel' | 'interaction' | 'followup';
  channelId: string;
  /** The slash command it answers (interaction and follow-up messages). */
  interactionId?: string;
  content: string;
  /** The message it replies to (`message_reference.message_id`). */
  replyTo?: string;
  components: unknown[];
  flags: number;
  allowedMentions?: unknown;
  files: UploadedFile[];
  edits: { content: string; components: unknown[] }[];
}

/** A scripted failure for the next matching request(s). */
export interface FakeFailure {
  method: string;
  path: RegExp;
  status: number;
  code?: number;
  message?: string;
  times: number;
}

/** What a test can put on a simulated user. */
export interface FakeUser {
  id: string;
  username: string;
  globalName?: string;
  bot?: boolean;
}

/** An attachment served by the fake CDN. */
export interface FakeAttachment {
  id: string;
  filename: string;
  size: number;
  url: string;
  content_type?: string;
}

interface OpenInteraction {
  id: string;
  token: string;
  channelId: string;
}

/**
 * A small Discord server on loopback: the REST routes a bot uses (`/api/v10/...`, JSON and multipart),
 * a websocket gateway that speaks the real protocol (HELLO, IDENTIFY → READY and GUILD_CREATE, heartbeat
 * ACK, RESUME, dispatches), and a CDN for attachments. It records what the bot sends and answers
 * with scripted errors on demand.
 */
export class FakeDiscord {
  readonly token = 'ODk5.fake-discord.bot-token';
  readonly bot: FakeUser = { id: '900000000000000001', username: 'transcriber', bot: true };
  /** Users the bot opened a DM channel with (`POST /users/@me/channels`), in order. */
  readonly dmChannelsOpened: string[] = [];
  readonly applicationId = '900000000000000002';
  /** The test server; `botRoleId` is the role Discord makes for the bot when it joins (managed, tagged with its id). */
  readonly guild = { id: '910000000000000001', channelId: '910000000000000002', name: 'Test server', botRoleId: '910000000000000077' };
  readonly sent: SentMessage[] = [];
  readonly typing: string[] = [];
  readonly callbacks: { interactionId: string; type: number; flags: number }[] = [];
  /** The last body of `PUT /applications/:id/commands`. */
  commands?: { name: string; options?: unknown[] }[];
  /** Intents the last IDENTIFY asked for. */
  intents?: number;
  /** Closes the gateway on IDENTIFY with this code (4014: disallowed intents), as Discord does. */
  refuseIdentify?: { code: number; reason: string };
  /** Posts refused because they carried no text, file or component (Discord answers those 400). */
  emptyRefused = 0;
  /** Attachment ids downloaded, in order. */
  readonly downloaded: string[] = [];
  /**
   * Discord's per-channel bucket for posting messages (5 per 5 s): when set, every answer carries the
   * `X-RateLimit-*` headers and a post past the limit gets 429 with `retry_after`, as Discord does.
   */
  messageBucket?: { limit: number; windowMs: number };
  /** Posts answered 429 by the bucket; when each accepted post arrived (`log`, all of them; `accepted`, the open window). */
  readonly rateLimited = { refused: 0, log: [] as { channelId: string; at: number }[], accepted: new Map<string, number[]>() };
  private server?: Server;
  private wss?: WebSocketServer;
  private sockets = new Set<WebSocket>();
  private identified = new Set<WebSocket>();
  private seq = 0;
  private nextId = 1_100_000_000_000_000_000n;
  private files = new Map<string, Buffer>();
  private failures: FakeFailure[] = [];
  private hangs: { method: string; path: RegExp; times: number }[] = [];
  private readonly hung = new Set<ServerResponse>();
  private interactions = new Map<string, OpenInteraction>();
  private waiters = new Set<() => void>();

  /** `DISCORD_API_ROOT` for the bot. */
  get apiRoot(): string {
    return `${this.base}/api`;
  }

  private get base(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Listens on a free loopback port. */
  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
    });
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/gateway')) return socket.destroy();
      this.wss!.handleUpgrade(req, socket, head, (ws) => this.connect(ws));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    for (const ws of this.sockets) ws.terminate();
    this.wss?.close();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A fresh snowflake. */
  id(): string {
    return String(this.nextId++);
  }

  /** Makes the next `times` requests matching `method` and `path` get no answer at all, as a server that stopped answering. */
  hang(method: string, path: RegExp, times = 1): void {
    this.hangs.push({ method, path, times });
  }

  /** Makes the next `times` requests matching `method` and `path` fail with `status` (and a Discord error code). */
  fail(method: string, path: RegExp, status: number, options: { code?: number; message?: string; times?: number } = {}): void {
    this.failures.push({ method, path, status, code: options.code, message: options.message, times: options.times ?? 1 });
  }

  /** Puts bytes on the CDN; returns the attachment object a message carries. */
  addAttachment(content: Buffer, filename: string, contentType?: string, declaredSize = content.length): FakeAttachment {
    const id = this.id();
    this.files.set(id, content);
    return {
      id,
      filename,
      size: declaredSize,
      url: `${this.base}/attachments/${this.guild.channelId}/${id}/${encodeURIComponent(filename)}`,
      ...(contentType ? { content_type: contentType } : {}),
    };
  }

  /**
   * Dispatches a direct message from `user` that forwards another message with these files: Discord sends a
   * forward with no files of its own, a reference of type 1 (forward) and the files in its snapshot.
   */
  forwardDm(user: FakeUser, attachments: FakeAttachment[]): string {
    const id = this.id();
    const payload = this.messagePayload(id, `8${user.id.slice(1)}`, user, '', []);
    const snapshot = { ...this.messagePayload(this.id(), '777000000000000001', user, '', attachments), flags: 8192 };
    this.dispatch('MESSAGE_CREATE', {
      ...payload,
      channel_type: 1,
      flags: 16384,
      message_reference: { type: 1, message_id: snapshot.id, channel_id: snapshot.channel_id },
      message_snapshots: [{ message: snapshot }],
    });
    return id;
  }

  /**
   * Takes rights from the bot's role in the server channel (a CHANNEL_UPDATE with a permission overwrite), as a
   * server admin would: `deny` is Discord's permission bits.
   */
  restrictChannel(deny: bigint): void {
    const { id, channelId } = this.guild;
    const overwrite = { id: this.guild.botRoleId, type: 0, allow: '0', deny: String(deny) };
    this.dispatch('CHANNEL_UPDATE', {
      id: channelId,
      type: 0,
      name: 'general',
      guild_id: id,
      position: 0,
      permission_overwrites: [overwrite],
    });
  }

  /** Dispatches a direct message from `user`; returns its id. */
  dm(user: FakeUser, options: { content?: string; attachments?: FakeAttachment[]; channelId?: string; id?: string } = {}): string {
    const id = options.id ?? this.id();
    const payload = this.messagePayload(
      id,
      options.channelId ?? `8${user.id.slice(1)}`,
      user,
      options.content ?? '',
      options.attachments ?? [],
    );
    this.dispatch('MESSAGE_CREATE', { ...payload, channel_type: 1 });
    return id;
  }

  /**
   * Dispatches a message in the test server's channel; `mention` puts the bot in its mentions and text, `'role'` the
   * bot's managed role instead (Discord's @ list offers both under the bot's name).
   */
  guildMessage(user: FakeUser, options: { content?: string; attachments?: FakeAttachment[]; mention?: boolean | 'role' } = {}): string {
    const id = this.id();
    const tag = options.mention === 'role' ? `<@&${this.guild.botRoleId}>` : `<@${this.bot.id}>`;
    const content = options.mention ? `${tag} ${options.content ?? ''}`.trim() : (options.content ?? '');
    const payload = this.messagePayload(
      id,
      this.guild.channelId,
      user,
      content,
      options.attachments ?? [],
      options.mention === true ? [this.bot] : [],
    );
    this.dispatch('MESSAGE_CREATE', {
      ...payload,
      ...(options.mention === 'role' ? { mention_roles: [this.guild.botRoleId] } : {}),
      channel_type: 0,
      guild_id: this.guild.id,
      member: { roles: [], joined_at: new Date(0).toISOString(), deaf: false, mute: false, flags: 0 },
    });
    return id;
  }

  /** Dispatches a slash command from `user` (in the server when `inGuild`, else in their DM); returns the interaction id. */
  slashCommand(user: FakeUser, name: string, options: { value: string; name: string }[] = [], inGuild = false): string {
    const id = this.id();
    const token = `interaction-token-${id}`;
    const channelId = inGuild ? this.guild.channelId : `8${user.id.slice(1)}`;
    this.interactions.set(token, { id, token, channelId });
    const author = this.userPayload(user);
    this.dispatch('INTERACTION_CREATE', {
      id,
      application_id: this.applicationId,
      type: 2,
      token,
      version: 1,
      locale: 'de',
      app_permissions: '0',
      entitlements: [],
      authorizing_integration_owners: { '0': this.guild.id },
      context: inGuild ? 0 : 1,
      channel_id: channelId,
      channel: inGuild
        ? { id: channelId, type: 0, guild_id: this.guild.id, name: 'general' }
        : { id: channelId, type: 1, recipients: [author] },
      ...(inGuild
        ? {
            guild_id: this.guild.id,
            member: { user: author, roles: [], joined_at: new Date(0).toISOString(), deaf: false, mute: false, flags: 0, permissions: '0' },
          }
        : { user: author }),
      data: { id: this.id(), name, type: 1, options: options.map((o) => ({ ...o, type: 3 })) },
    });
    return id;
  }

  /** Sends a dispatch to every identified gateway connection. */
  dispatch(t: string, d: unknown): void {
    this.seq++;
    for (const ws of this.identified) ws.send(JSON.stringify({ op: 0, t, s: this.seq, d }));
  }

  /** Messages replying to `messageId`, in the order sent. */
  repliesTo(messageId: string): SentMessage[] {
    return this.sent.filter((m) => m.replyTo === messageId);
  }

  /** Resolves with the predicate's first truthy value, re-checked after every request. */
  async waitFor<T>(predicate: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = predicate();
      if (value) return value;
      if (Date.now() > deadline) throw new Error('fake Discord: condition not met in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 100);
        this.waiters.add(done);
        const waiters = this.waiters;
        function done(): void {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
      });
    }
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private userPayload(user: FakeUser) {
    return {
      id: user.id,
      username: user.username,
      global_name: user.globalName ?? null,
      discriminator: '0',
      avatar: null,
      ...(user.bot ? { bot: true } : {}),
    };
  }

  private messagePayload(
    id: string,
    channelId: string,
    user: FakeUser,
    content: string,
    attachments: FakeAttachment[],
    mentions: FakeUser[] = [],
  ) {
    return {
      id,
      channel_id: channelId,
      author: this.userPayload(user),
      content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: mentions.map((m) => this.userPayload(m)),
      mention_roles: [],
      attachments: attachments.map((a) => ({ ...a, proxy_url: a.url })),
      embeds: [],
      pinned: false,
      type: 0,
      flags: 0,
    };
  }

  // ---- gateway ----

  private connect(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => {
      this.sockets.delete(ws);
      this.identified.delete(ws);
    });
    ws.on('message', (raw) =>
      this.onGateway(
        ws,
        JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : Buffer.concat(raw as Buffer[]).toString('utf8')) as {
          op: number;
          d: Record<string, unknown>;
        },
      ),
    );
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41_250 } }));
  }

  private onGateway(ws: WebSocket, packet: { op: number; d: Record<string, unknown> }): void {
    switch (packet.op) {
      case 1: // heartbeat
        ws.send(JSON.stringify({ op: 11 }));
        return;
      case 2: {
        // identify
        if (packet.d.token !== this.token) return ws.close(4004, 'Authentication failed.');
        if (this.refuseIdentify) return ws.close(this.refuseIdentify.code, this.refuseIdentify.reason);
        this.intents = Number(packet.d.intents);
        this.identified.add(ws);
        const ready = {
          v: 10,
          user: { ...this.userPayload(this.bot), verified: true, mfa_enabled: false, flags: 0 },
          guilds: [{ id: this.guild.id, unavailable: true }],
          session_id: `resume-${this.id()}`,
          resume_gateway_url: `ws://127.0.0.1:${(this.server!.address() as AddressInfo).port}/gateway`,
          application: { id: this.applicationId, flags: 0 },
          shard: [0, 1],
        };
        ws.send(JSON.stringify({ op: 0, t: 'READY', s: ++this.seq, d: ready }));
        ws.send(JSON.stringify({ op: 0, t: 'GUILD_CREATE', s: ++this.seq, d: this.guildPayload() }));
        return;
      }
      case 6: // resume: nothing was missed in a test
        this.identified.add(ws);
        ws.send(JSON.stringify({ op: 0, t: 'RESUMED', s: ++this.seq, d: {} }));
        return;
      default:
        return;
    }
  }

  private guildPayload() {
    const { id, channelId, name } = this.guild;
    return {
      id,
      name,
      unavailable: false,
      owner_id: '920000000000000001',
      joined_at: new Date(0).toISOString(),
      member_count: 2,
      large: false,
      features: [],
      roles: [
        { id, name: '@everyone', permissions: '68608', position: 0, color: 0, hoist: false, managed: false, mentionable: false, flags: 0 },
        {
          id: this.guild.botRoleId,
          name: this.bot.username,
          // View channel, send messages, attach files, read message history: what the bot's invite asks for.
          permissions: '101376',
          position: 1,
          color: 0,
          hoist: false,
          managed: true,
          mentionable: true,
          flags: 0,
          tags: { bot_id: this.bot.id },
        },
      ],
      emojis: [],
      stickers: [],
      // The bot's own membership, as Discord sends it: discord.js reads the bot's permissions from it.
      members: [
        {
          user: this.userPayload(this.bot),
          roles: [this.guild.botRoleId],
          joined_at: new Date(0).toISOString(),
          deaf: false,
          mute: false,
          flags: 0,
        },
      ],
      presences: [],
      voice_states: [],
      threads: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
      channels: [{ id: channelId, type: 0, name: 'general', guild_id: id, position: 0, permission_overwrites: [] }],
    };
  }

  // ---- REST and CDN ----

  private async route(req: HttpRequest, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const body = await readBody(req);
    try {
      await this.answer(req, res, path, body);
    } finally {
      this.notify();
    }
  }

  private async answer(req: HttpRequest, res: ServerResponse, path: string, raw: Buffer): Promise<void> {
    const method = req.method ?? 'GET';
    const cdn = /^\/attachments\/\d+\/(\d+)\/[^/]+$/.exec(path);
    if (cdn && method === 'GET') {
      const content = this.files.get(cdn[1]);
      if (!content) return json(res, 404, { message: 'Not Found' });
      this.downloaded.push(cdn[1]);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': content.length }).end(content);
      return;
    }
    if (!path.startsWith('/api/v10/')) return json(res, 404, { message: '404: Not Found', code: 0 });
    const route = decodeURIComponent(path.slice('/api/v10'.length));

    const hang = this.hangs.find((h) => h.method === method && h.path.test(route));
    if (hang) {
      if (--hang.times <= 0) this.hangs.splice(this.hangs.indexOf(hang), 1);
      this.hung.add(res);
      return;
    }
    const failure = this.failures.find((f) => f.method === method && f.path.test(route));
    if (failure) {
      if (--failure.times <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
      return json(res, failure.status, { message: failure.message ?? 'Scripted failure', code: failure.code ?? 0 });
    }

    // Interaction callbacks and webhooks are authorised by their token in the path, not the bot token.
    const tokenRoute = /^\/(interactions|webhooks)\//.test(route);
    if (!tokenRoute && req.headers.authorization !== `Bot ${this.token}`) return json(res, 401, { message: '401: Unauthorized', code: 0 });

    const payload = await parsePayload(req, raw);
    let match: RegExpExecArray | null;
    if (method === 'GET' && (route === '/gateway/bot' || route === '/gateway')) {
      const port = (this.server!.address() as AddressInfo).port;
      return json(res, 200, {
        url: `ws://127.0.0.1:${port}/gateway`,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
      });
    }
    if (method === 'GET' && route === '/users/@me') return json(res, 200, this.userPayload(this.bot));
    if (method === 'POST' && route === '/users/@me/channels') {
      // The DM channel with a user: the same id the user's own DMs come from.
      const recipient = (payload.json as { recipient_id: string }).recipient_id;
      this.dmChannelsOpened.push(recipient);
      return json(res, 200, {
        id: `8${recipient.slice(1)}`,
        type: 1,
        recipients: [{ id: recipient, username: 'user', discriminator: '0' }],
      });
    }
    if ((match = /^\/applications\/(\d+)\/commands$/.exec(route)) && method === 'PUT') {
      if (match[1] !== this.applicationId) return json(res, 404, { message: 'Unknown Application', code: 10002 });
      this.commands = payload.json as { name: string }[];
      return json(
        res,
        200,
        this.commands.map((c) => ({ ...c, id: this.id(), application_id: this.applicationId, version: this.id() })),
      );
    }
    if ((match = /^\/channels\/(\d+)\/typing$/.exec(route)) && method === 'POST') {
      this.typing.push(match[1]);
      res.writeHead(204).end();
      return;
    }
    if (method === 'POST' && isEmpty(payload.json as MessageBody, payload.files) && /\/messages$|^\/webhooks\//.test(route)) {
      this.emptyRefused += 1;
      return json(res, 400, { message: 'Cannot send an empty message', code: 50006 });
    }
    if (
      (match = /^\/channels\/(\d+)\/messages$/.exec(route)) &&
      method === 'POST' &&
      this.messageBucket &&
      !this.takeBucket(res, match[1]!)
    )
      return;
    if ((match = /^\/channels\/(\d+)\/messages$/.exec(route)) && method === 'POST') {
      const body = payload.json as MessageBody;
      const message = this.record('channel', match[1], body, payload.files);
      message.replyTo = body.message_reference?.message_id;
      return json(res, 200, this.messageOut(message));
    }
    if ((match = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(route)) && method === 'PATCH') {
      return this.editMessage(res, match[2], payload.json as MessageBody);
    }
    if ((match = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(route)) && method === 'POST') {
      const open = this.interactions.get(decodeURIComponent(match[2]));
      if (!open || open.id !== match[1]) return json(res, 404, { message: 'Unknown interaction', code: 10062 });
      const body = payload.json as { type: number; data?: { flags?: number } };
      this.callbacks.push({ interactionId: open.id, type: body.type, flags: body.data?.flags ?? 0 });
      res.writeHead(204).end();
      return;
    }
    if ((match = /^\/webhooks\/(\d+)\/([^/]+)(\/messages\/@original)?$/.exec(route)) && (method === 'PATCH' || method === 'POST')) {
      const open = this.interactions.get(decodeURIComponent(match[2]));
      if (match[1] !== this.applicationId || !open) return json(res, 404, { message: 'Unknown Webhook', code: 10015 });
      const original = Boolean(match[3]);
      if (original !== (method === 'PATCH')) return json(res, 405, { message: '405: Method Not Allowed', code: 0 });
      if (original && !this.callbacks.some((c) => c.interactionId === open.id))
        return json(res, 404, { message: 'Unknown Message', code: 10008 });
      const message = this.record(original ? 'interaction' : 'followup', open.channelId, payload.json as MessageBody, payload.files);
      message.interactionId = open.id;
      return json(res, 200, this.messageOut(message));
    }
    return json(res, 404, { message: '404: Not Found', code: 0 });
  }

  /** Counts a post against the channel's bucket and sets the rate-limit headers; false (429 sent) when it is empty. */
  private takeBucket(res: ServerResponse, channelId: string): boolean {
    const { limit, windowMs } = this.messageBucket!;
    const now = Date.now();
    const times = (this.rateLimited.accepted.get(channelId) ?? []).filter((t) => t > now - windowMs);
    this.rateLimited.accepted.set(channelId, times);
    const resetAfter = times.length > 0 ? (times[0]! + windowMs - now) / 1000 : windowMs / 1000;
    const headers = {
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-bucket': `messages-${channelId}`,
      'x-ratelimit-reset-after': resetAfter.toFixed(3),
      'x-ratelimit-reset': (now / 1000 + resetAfter).toFixed(3),
    };
    if (times.length >= limit) {
      this.rateLimited.refused += 1;
      res.writeHead(429, {
        'content-type': 'application/json',
        'retry-after': String(Math.ceil(resetAfter)),
        'x-ratelimit-remaining': '0',
        ...headers,
      });
      res.end(JSON.stringify({ message: 'You are being rate limited.', retry_after: resetAfter, global: false }));
      return false;
    }
    times.push(now);
    this.rateLimited.log.push({ channelId, at: now });
    for (const [name, value] of Object.entries({ ...headers, 'x-ratelimit-remaining': String(limit - times.length) }))
      res.setHeader(name, value);
    return true;
  }

  private record(via: SentMessage['via'], channelId: string, body: MessageBody, files: UploadedFile[]): SentMessage {
    const message: SentMessage = {
      id: this.id(),
      via,
      channelId,
      content: body.content ?? '',
      components: body.components ?? [],
      flags: body.flags ?? 0,
      allowedMentions: body.allowed_mentions,
      files,
      edits: [],
    };
    this.sent.push(message);
    return message;
  }

  private editMessage(res: ServerResponse, messageId: string, body: MessageBody): void {
    const message = this.sent.find((m) => m.id === messageId);
    if (!message) return json(res, 404, { message: 'Unknown Message', code: 10008 });
    message.edits.push({ content: body.content ?? message.content, components: body.components ?? [] });
    json(res, 200, this.messageOut(message));
  }

  private messageOut(message: SentMessage) {
    const last = message.edits.at(-1);
    return {
      ...this.messagePayload(message.id, message.channelId, this.bot, last?.content ?? message.content, []),
      components: last?.components ?? message.components,
    };
  }
}

interface MessageBody {
  content?: string;
  components?: unknown[];
  flags?: number;
  allowed_mentions?: unknown;
  message_reference?: { message_id: string };
}

/** Discord refuses a message with no text, files or components. */
function isEmpty(body: MessageBody, files: UploadedFile[]): boolean {
  return !body.content && files.length === 0 && !body.components?.length;
}

/** Reads a JSON body, or a multipart one (`payload_json` plus `files[n]`) as discord.js uploads files. */
async function parsePayload(req: HttpRequest, raw: Buffer): Promise<{ json: unknown; files: UploadedFile[] }> {
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) {
    const form = await new Request('http://localhost/', {
      method: 'POST',
      headers: { 'content-type': type },
      body: new Uint8Array(raw),
    }).formData();
    const files: UploadedFile[] = [];
    let json: unknown = {};
    for (const [field, value] of form.entries()) {
      if (field === 'payload_json') json = JSON.parse(typeof value === 'string' ? value : await value.text());
      else if (typeof value !== 'string')
        files.push({ name: value.name, contentType: value.type || undefined, content: Buffer.from(await value.arrayBuffer()) });
    }
    return { json, files };
  }
  return { json: raw.length ? JSON.parse(raw.toString()) : {}, files: [] };
}

async function readBody(req: HttpRequest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
