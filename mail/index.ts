import { MailChannel } from './channel';
import type { MailOptions } from './options';

export { MailChannel } from './channel';
export type { MailOptions } from './options';

/** Creates the email channel (docs/configuration.md: IMAP_*, SMTP_*, MAIL_*). Throws on a dmarc policy without authserv-id. */
export function createMailChannel(options: MailOptions): MailChannel {
  return new MailChannel(options);
}
