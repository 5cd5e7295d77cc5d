import type { Logger } from '../src/log';

/** How the mail channel reaches its mailbox and its outgoing server (docs/configuration.md: IMAP_*, SMTP_*, MAIL_*). */
export interface MailOptions {
  imap: { host: string; port: number; secure: boolean; user: string; password: string; mailbox: string };
  /** `timeoutMs`: how long connecting, the greeting and each command may go unanswered (default 30 s). */
  smtp: { host: string; port: number; secure: boolean; user?: string; password?: string; timeoutMs?: number };
  /** The service's own address: replies come from it, and mail from it is never answered. */
  from: string;
  /** `dmarc`: act only on mail our receiving server marked `dmarc=pass`; `none`: trust `From`. */
  senderAuth: 'dmarc' | 'none';
  /** The receiving server's authserv-id; required with `dmarc`. */
  authservId?: string;
  /** Largest reply mail (`MAIL_MAX_BYTES`); a reply with more files is split across mails. Default 10 MiB. */
  maxMessageBytes?: number;
  /** Larger attachments are handed on as refusals, not stored. */
  maxFileBytes: number;
  log: Logger;
  tls?: { rejectUnauthorized?: boolean };
  /** Where attachments wait between parsing and intake; the OS temp dir by default. */
  tmpDir?: string;
  /** Reconnect delays after the IMAP server went away, doubling from min to max. */
  reconnect?: { minMs?: number; maxMs?: number };
}
