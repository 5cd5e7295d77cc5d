export { createMailChannel, MailChannel } from './mail-channel';
export type { MailOptions } from './options';
