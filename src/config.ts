import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { parseDuration } from './durations';
import { registerSecrets } from './secrets';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
/** A whole number written in decimal: `Number()` alone would also take `0x1F90`, `1e3` and ` ` (as 0). */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^-?\d+$/, 'a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
/** An http(s) address with a host: `new URL` alone takes `host:8080` as a URL whose scheme is the host. */
const url = z
  .string()
  .url()
  .refine((text) => {
    const parsed = new URL(text);
    return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.hostname !== '';
  }, 'an http:// or https:// address with a host');
/** The service's own address: links are built by appending paths to it, so it has no query or fragment. */
const baseUrl = url.refine((text) => !/[?#]/.test(text), 'no query (?) or fragment (#): paths are appended to it');
const optional = <T extends z.ZodTypeAny>(schema: T) => schema.optional();
const duration = (min: number) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms < min) {
      ctx.addIssue({ code: 'custom', message: `a duration such as 30m, 6h or 1d, at least ${min / 60_000}m` });
      return z.NEVER;
    }
    return ms;
  });
/** `s3://bucket/prefix` (S3 bucket naming; prefix of safe key segments) or a folder path. */
const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/([A-Za-z0-9][A-Za-z0-9._-]*(?:\/[A-Za-z0-9][A-Za-z0-9._-]*)*)?)?\/?$/;

/**
 * Every environment variable the service reads, with its default. Empty or blank values count as unset.
 * Exported so the docs test can hold `.env.example` and `docs/configuration.md` to exactly this list.
 */
export const configSchema = z.object({
  PORT: int(0, 65535).default(8080),
  // Loopback unless told otherwise: the images set 0.0.0.0 themselves, behind nginx.
  HOST: z.string().min(1).default('127.0.0.1'),
  PUBLIC_URL: baseUrl.default('http://localhost:8080'),
  DATA_DIR: z.string().min(1).default('./data'),
  METRICS_TOKEN: optional(z.string().regex(/^[\x21-\x7e]{16,}$/, 'at least 16 characters, no spaces')),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NEW_USER_FREE_SECONDS: int(0).default(600),
  PRICE_PER_MINUTE_CENTS: int(1).default(10),
  MINIMUM_PAYMENT_CENTS: int(1).default(50),
  CURRENCY: z
    .string()
    .regex(/^[a-z]{3}$/, 'a three-letter lower-case ISO currency code')
    .default('usd'),
  MAX_FILE_BYTES: int(1).default(2_147_483_648),
  MAX_FILE_SECONDS: int(1).default(14_400),
  FREE_GRANTS_PER_EMAIL_DOMAIN_PER_DAY: int(0).default(20),
  FREE_GRANTS_PER_FREE_MAIL_PROVIDER_PER_DAY: int(0).default(500),
  DISCORD_MIN_ACCOUNT_AGE_DAYS: int(0, 3650).default(7),
  USER_MESSAGES_PER_MINUTE: int(1, 10_000).default(20),
  HELP_REPLIES_PER_HOUR: int(1, 1000).default(3),
  MAX_CONCURRENT_INTAKE: int(1, 1000).default(16),
  MAX_CONCURRENT_PROBES: optional(int(1, 1000)),
  PROBE_SECONDS_PER_MESSAGE: int(1, 86_400).default(600),
  MAX_FILES_PER_MESSAGE: int(1, 1000).default(20),
  TELEGRAM_BOT_TOKEN: optional(z.string().regex(/^\d+:[\w-]+$/, 'a BotFather token like 123456:ABC...')),
  TELEGRAM_API_ROOT: optional(url),
  TELEGRAM_API_LOCAL_DIR: optional(z.string().min(1)),
  TELEGRAM_WEBHOOK_URL: optional(z.string().url().startsWith('https://', 'an https URL (Telegram posts only over TLS)')),
  TELEGRAM_WEBHOOK_SECRET: optional(z.string().regex(/^[A-Za-z0-9_-]{16,256}$/, '16 to 256 of A-Z a-z 0-9 _ -')),
  TELEGRAM_WEBHOOK_PORT: int(1, 65535).default(8081),
  TELEGRAM_PAYMENTS: z.enum(['stars', 'stripe']).default('stars'),
  STARS_PER_MINUTE: int(1, 10_000).default(5),
  STARS_MINIMUM: int(1, 100_000).default(25),
  PLATFORM_CALL_TIMEOUT_SECONDS: int(1, 3600).default(30),
  DISCORD_BOT_TOKEN: optional(z.string().min(1)),
  DISCORD_API_ROOT: optional(url),
  IMAP_HOST: optional(z.string().min(1)),
  IMAP_PORT: int(1, 65535).default(993),
  IMAP_SECURE: bool.default(true),
  IMAP_USER: optional(z.string().min(1)),
  IMAP_PASSWORD: optional(z.string().min(1)),
  IMAP_MAILBOX: z.string().min(1).default('INBOX'),
  SMTP_HOST: optional(z.string().min(1)),
  SMTP_PORT: int(1, 65535).default(465),
  SMTP_SECURE: bool.default(true),
  SMTP_USER: optional(z.string().min(1)),
  SMTP_PASSWORD: optional(z.string().min(1)),
  MAIL_FROM: optional(z.string().min(3)),
  MAIL_SENDER_AUTH: z.enum(['dmarc', 'none']).default('dmarc'),
  // The first word of the receiving server's Authentication-Results: a token, nothing a field could never start with.
  MAIL_AUTHSERV_ID: optional(z.string().regex(/^[^\s()";=\\]+$/, 'one word: the authserv-id alone, without ";" or the rest of the header')),
  MAIL_MAX_BYTES: int(65_536).default(10_485_760),
  STRIPE_SECRET_KEY: optional(z.string().regex(/^(sk|rk)_/, 'a Stripe secret key (sk_... or rk_...)')),
  STRIPE_WEBHOOK_SECRET: optional(z.string().regex(/^whsec_/, 'a webhook signing secret (whsec_...)')),
  STRIPE_API_BASE: optional(url),
  EXPIRED_AUDIO_KEEP_HOURS: int(0, 24 * 30).default(72),
  STORAGE: z.enum(['local', 's3']).default('local'),
  S3_BUCKET: optional(z.string().min(3)),
  S3_ENDPOINT: optional(url),
  S3_FORCE_PATH_STYLE: bool.default(false),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  RUNNER: z.enum(['local', 'batch']).default('local'),
  BATCH_JOB_QUEUE: optional(z.string().min(1)),
  BATCH_JOB_DEFINITION: optional(z.string().min(1)),
  BATCH_ENDPOINT: optional(url),
  BATCH_JOB_TIMEOUT_SECONDS: optional(int(60)),
  BATCH_POLL_SECONDS: z.coerce.number().min(0.1).max(600).default(10),
  BATCH_JOB_ROLE_ARN: optional(
    z.string().regex(/^arn:[\w-]+:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'an IAM role ARN (arn:aws:iam::<account>:role/<name>)'),
  ),
  STS_ENDPOINT: optional(url),
  WHISPER_MODEL: optional(z.string().min(1)),
  WHISPER_THREADS: int(1, 256).default(Math.max(1, cpus().length)),
  WORKER_CONCURRENCY: int(1, 64).default(1),
  BACKUP_TO: optional(
    z.string().refine(
      // Any scheme (S3://, s3:/, https://) that is not a valid s3:// URL is a typo, not a folder named "S3:".
      (v) => !/^[a-z][a-z0-9+.-]*:/i.test(v) || S3_URL.test(v),
      's3://bucket/prefix (prefix of letters, digits, . _ - and /) or a folder path',
    ),
  ),
  BACKUP_INTERVAL: optional(duration(60_000)),
  BACKUP_KEEP: int(1, 10_000).default(14),
  RESULT_RETENTION_DAYS: int(0, 36_500).default(30),
  // Stripe retries a webhook for three days, and Telegram an update for one: the records that make a
  // replay harmless must outlive both.
  RECORD_RETENTION_DAYS: int(0, 36_500)
    .refine((days) => days === 0 || days >= 7, '0 (keep forever) or at least 7 days')
    .default(90),
  LOCAL_MAX_SECONDS: int(0, 14_400).default(0),
});

type Env = z.infer<typeof configSchema>;

/** The validated configuration, grouped by feature; a feature whose credentials are absent is `undefined`. */
export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  /** Bearer token `/metrics` asks for; open when absent. */
  metricsToken?: string;
  dataDir: string;
  logLevel: Env['LOG_LEVEL'];
  pricing: { freeSeconds: number; pricePerMinuteCents: number; minimumPaymentCents: number; currency: string };
  limits: { maxFileBytes: number; maxFileSeconds: number; maxFilesPerMessage: number };
  /** Abuse bounds: who gets free seconds, and how fast one user (and everyone together) may send. */
  abuse: {
    freeGrantsPerEmailDomainPerDay: number;
    freeGrantsPerFreeMailProviderPerDay: number;
    discordMinAccountAgeMs: number;
    userMessagesPerMinute: number;
    helpRepliesPerHour: number;
    maxConcurrentIntake: number;
    /** Files measured at once; unset, the number of cores. */
    maxConcurrentProbes?: number;
    probeSecondsPerMessage: number;
    /** How long a file's download may send nothing before it is given up (PLATFORM_CALL_TIMEOUT_SECONDS). */
    downloadIdleMs: number;
  };
  telegram?: {
    token: string;
    apiRoot?: string;
    /** A self-hosted Bot API server's `--dir`, whose absolute file paths may be read. */
    localFilesDir?: string;
    /** Webhook mode behind a TLS proxy; long polling when absent. */
    webhook?: { url: string; secretToken: string; port: number; host: string };
    /** Telegram Stars prices when the bot sells for Stars (TELEGRAM_PAYMENTS=stars); absent when it sends Stripe links. */
    stars?: { perMinute: number; minimum: number };
    /** How long one Bot API call may go unanswered (PLATFORM_CALL_TIMEOUT_SECONDS). */
    callTimeoutMs: number;
  };
  discord?: { token: string; apiRoot?: string; callTimeoutMs: number };
  mail?: {
    imap: { host: string; port: number; secure: boolean; user: string; password: string; mailbox: string };
    smtp: { host: string; port: number; secure: boolean; user?: string; password?: string; timeoutMs: number };
    from: string;
    senderAuth: 'dmarc' | 'none';
    authservId?: string;
    /** Largest reply mail, encoded; a reply with more files is split across mails. */
    maxMessageBytes: number;
  };
  stripe?: { secretKey: string; webhookSecret: string; apiBase?: string };
  /** Hours an expired order's audio is kept, so a payment still on its way transcribes it; 0 deletes it at once. */
  expiredAudioKeepHours: number;
  storage: { kind: 'local'; root: string } | { kind: 's3'; bucket: string; endpoint?: string; forcePathStyle: boolean; region: string };
  runner:
    | { kind: 'local'; concurrency: number }
    | {
        kind: 'batch';
        jobQueue: string;
        jobDefinition: string;
        endpoint?: string;
        region: string;
        attemptTimeoutSeconds?: number;
        /** How often running jobs are described (one DescribeJobs per 100 of them). */
        pollIntervalMs: number;
        /** Each job gets a session of this role scoped to its own orders; unset, jobs use the job definition's role. */
        jobRoleArn?: string;
        stsEndpoint?: string;
        localMaxSeconds: number;
        concurrency: number;
      };
  /** `model` is `WHISPER_MODEL` when set (a model name or a path); unset, the runner finds the model `npm run model` or the install prepared. */
  whisper: { model?: string; threads: number };
  /** Database backups: `npm run backup` writes to `target`; the service also does every `intervalMs` when set. */
  backup: { target: BackupTarget; intervalMs?: number; keep: number };
  /** Days after which finished orders' blobs, and message records, are deleted; 0 keeps them. The ledger is never pruned. */
  retention: { resultDays: number; recordDays: number };
}

/** Where backups go: a folder, or a bucket and key prefix reached with the S3 settings. */
export type BackupTarget =
  | { kind: 'folder'; path: string }
  | { kind: 's3'; bucket: string; prefix: string; region: string; endpoint?: string; forcePathStyle: boolean };

/** A configuration problem, phrased as the one line the operator sees. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates `env` once; throws `ConfigError` naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Before anything can fail or log: from here on no log line, recorded error or admin output carries them.
  registerSecrets(env);
  // Blank counts as unset too: `PORT= ` must not read as port 0, nor `NEW_USER_FREE_SECONDS= ` as no free seconds.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const parsed = configSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0]);
    throw new ConfigError(`${name} is invalid: ${issue.message}`);
  }
  const e = parsed.data;
  const need = (names: (keyof Env)[], feature: string) => {
    const missing = names.filter((n) => e[n] === undefined);
    if (missing.length) throw new ConfigError(`${missing[0]} is required for ${feature}`);
  };

  const dataDir = resolve(e.DATA_DIR);
  let mail: Config['mail'];
  if (e.IMAP_HOST) {
    need(['IMAP_USER', 'IMAP_PASSWORD', 'SMTP_HOST'], 'email (IMAP_HOST is set)');
    if (e.MAIL_SENDER_AUTH === 'dmarc') need(['MAIL_AUTHSERV_ID'], 'MAIL_SENDER_AUTH=dmarc');
    mail = {
      imap: {
        host: e.IMAP_HOST,
        port: e.IMAP_PORT,
        secure: e.IMAP_SECURE,
        user: e.IMAP_USER!,
        password: e.IMAP_PASSWORD!,
        mailbox: e.IMAP_MAILBOX,
      },
      smtp: {
        host: e.SMTP_HOST!,
        port: e.SMTP_PORT,
        secure: e.SMTP_SECURE,
        user: e.SMTP_USER,
        password: e.SMTP_PASSWORD,
        timeoutMs: e.PLATFORM_CALL_TIMEOUT_SECONDS * 1000,
      },
      from: e.MAIL_FROM ?? e.IMAP_USER!,
      senderAuth: e.MAIL_SENDER_AUTH,
      authservId: e.MAIL_AUTHSERV_ID,
      maxMessageBytes: e.MAIL_MAX_BYTES,
    };
  }
  if (e.TELEGRAM_WEBHOOK_URL) need(['TELEGRAM_WEBHOOK_SECRET'], 'Telegram webhook mode (TELEGRAM_WEBHOOK_URL is set)');
  if (e.STRIPE_SECRET_KEY) need(['STRIPE_WEBHOOK_SECRET'], 'payments (STRIPE_SECRET_KEY is set)');
  if (e.STORAGE === 's3') need(['S3_BUCKET'], 'STORAGE=s3');
  if (e.RUNNER === 'batch') need(['BATCH_JOB_QUEUE', 'BATCH_JOB_DEFINITION'], 'RUNNER=batch');
  // A GPU job elsewhere cannot read this machine's disk.
  if (e.RUNNER === 'batch' && e.STORAGE !== 's3')
    throw new ConfigError('STORAGE must be s3 when RUNNER=batch (Batch jobs read the audio from the bucket)');

  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.PUBLIC_URL.replace(/\/+$/, ''),
    metricsToken: e.METRICS_TOKEN,
    dataDir,
    logLevel: e.LOG_LEVEL,
    pricing: {
      freeSeconds: e.NEW_USER_FREE_SECONDS,
      pricePerMinuteCents: e.PRICE_PER_MINUTE_CENTS,
      minimumPaymentCents: e.MINIMUM_PAYMENT_CENTS,
      currency: e.CURRENCY,
    },
    limits: { maxFileBytes: e.MAX_FILE_BYTES, maxFileSeconds: e.MAX_FILE_SECONDS, maxFilesPerMessage: e.MAX_FILES_PER_MESSAGE },
    abuse: {
      freeGrantsPerEmailDomainPerDay: e.FREE_GRANTS_PER_EMAIL_DOMAIN_PER_DAY,
      freeGrantsPerFreeMailProviderPerDay: e.FREE_GRANTS_PER_FREE_MAIL_PROVIDER_PER_DAY,
      discordMinAccountAgeMs: e.DISCORD_MIN_ACCOUNT_AGE_DAYS * 86_400_000,
      userMessagesPerMinute: e.USER_MESSAGES_PER_MINUTE,
      helpRepliesPerHour: e.HELP_REPLIES_PER_HOUR,
      maxConcurrentIntake: e.MAX_CONCURRENT_INTAKE,
      maxConcurrentProbes: e.MAX_CONCURRENT_PROBES,
      probeSecondsPerMessage: e.PROBE_SECONDS_PER_MESSAGE,
      downloadIdleMs: e.PLATFORM_CALL_TIMEOUT_SECONDS * 1000,
    },
    telegram: e.TELEGRAM_BOT_TOKEN
      ? {
          token: e.TELEGRAM_BOT_TOKEN,
          apiRoot: e.TELEGRAM_API_ROOT,
          localFilesDir: e.TELEGRAM_API_LOCAL_DIR ? resolve(e.TELEGRAM_API_LOCAL_DIR) : undefined,
          webhook: e.TELEGRAM_WEBHOOK_URL
            ? { url: e.TELEGRAM_WEBHOOK_URL, secretToken: e.TELEGRAM_WEBHOOK_SECRET!, port: e.TELEGRAM_WEBHOOK_PORT, host: e.HOST }
            : undefined,
          stars: e.TELEGRAM_PAYMENTS === 'stars' ? { perMinute: e.STARS_PER_MINUTE, minimum: e.STARS_MINIMUM } : undefined,
          callTimeoutMs: e.PLATFORM_CALL_TIMEOUT_SECONDS * 1000,
        }
      : undefined,
    discord: e.DISCORD_BOT_TOKEN
      ? { token: e.DISCORD_BOT_TOKEN, apiRoot: e.DISCORD_API_ROOT, callTimeoutMs: e.PLATFORM_CALL_TIMEOUT_SECONDS * 1000 }
      : undefined,
    mail,
    stripe:
      e.STRIPE_SECRET_KEY && e.STRIPE_WEBHOOK_SECRET
        ? { secretKey: e.STRIPE_SECRET_KEY, webhookSecret: e.STRIPE_WEBHOOK_SECRET, apiBase: e.STRIPE_API_BASE }
        : undefined,
    expiredAudioKeepHours: e.EXPIRED_AUDIO_KEEP_HOURS,
    storage:
      e.STORAGE === 's3'
        ? { kind: 's3', bucket: e.S3_BUCKET!, endpoint: e.S3_ENDPOINT, forcePathStyle: e.S3_FORCE_PATH_STYLE, region: e.AWS_REGION }
        : { kind: 'local', root: join(dataDir, 'blobs') },
    runner:
      e.RUNNER === 'batch'
        ? {
            kind: 'batch',
            jobQueue: e.BATCH_JOB_QUEUE!,
            jobDefinition: e.BATCH_JOB_DEFINITION!,
            endpoint: e.BATCH_ENDPOINT,
            region: e.AWS_REGION,
            attemptTimeoutSeconds: e.BATCH_JOB_TIMEOUT_SECONDS,
            pollIntervalMs: Math.round(e.BATCH_POLL_SECONDS * 1000),
            jobRoleArn: e.BATCH_JOB_ROLE_ARN,
            stsEndpoint: e.STS_ENDPOINT,
            localMaxSeconds: e.LOCAL_MAX_SECONDS,
            concurrency: e.WORKER_CONCURRENCY,
          }
        : { kind: 'local', concurrency: e.WORKER_CONCURRENCY },
    // A path is made absolute; a model name (`base.en`) and unset (the default `npm run model` chose) are the worker's to resolve.
    whisper: {
      model: e.WHISPER_MODEL ? (/[/\\]|\.bin$/.test(e.WHISPER_MODEL) ? resolve(e.WHISPER_MODEL) : e.WHISPER_MODEL) : undefined,
      threads: e.WHISPER_THREADS,
    },
    backup: { target: backupTarget(e.BACKUP_TO ?? join(dataDir, 'backups'), e), intervalMs: e.BACKUP_INTERVAL, keep: e.BACKUP_KEEP },
    retention: { resultDays: e.RESULT_RETENTION_DAYS, recordDays: e.RECORD_RETENTION_DAYS },
  };
}

/** `BACKUP_TO` read: an `s3://` URL uses the S3 endpoint, path style and region of the storage settings. */
export function backupTarget(to: string, e: { AWS_REGION: string; S3_ENDPOINT?: string; S3_FORCE_PATH_STYLE: boolean }): BackupTarget {
  const s3 = S3_URL.exec(to);
  if (!s3) return { kind: 'folder', path: resolve(to) };
  return {
    kind: 's3',
    bucket: s3[1]!,
    prefix: s3[2] ?? '',
    region: e.AWS_REGION,
    endpoint: e.S3_ENDPOINT,
    forcePathStyle: e.S3_FORCE_PATH_STYLE,
  };
}
