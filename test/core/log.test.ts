import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createLogger, scrubSecrets } from '../../src/log';

describe('logs never carry credentials', () => {
  it('scrubs bot tokens, Stripe keys and URL passwords from text', () => {
    const line = scrubSecrets(
      'GET https://api.telegram.org/bot123456:AAH-abcdefghijklmnopqrstuvwx/getFile failed; key sk_live_51Habc; secret whsec_xyz; imaps://svc:hunter2@mail.test',
    );
    expect(line).not.toMatch(/AAH-abc|sk_live_51|whsec_xyz|hunter2/);
    expect(line).toContain('https://api.telegram.org/[redacted]/getFile');
  });

  it('the service logger scrubs errors and redacts credential and content fields', () => {
    let out = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        out += String(chunk);
        done();
      },
    });
    const log = createLogger('info', sink);
    log.error({ err: new Error('request to https://api.telegram.org/bot42:AAAAAAAAAAAAAAAAAAAAAAAAAA/x failed') }, 'download failed');
    log.info({ mail: { password: 'hunter2', text: 'the transcript itself' } }, 'connected');
    expect(out).toContain('download failed');
    expect(out).not.toContain('AAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('the transcript itself');
  });

  it('configured credentials are scrubbed by value from every field, message and error, whatever their shape', () => {
    const secrets = {
      DISCORD_BOT_TOKEN: 'MTAxNjQ4.GhT3xq.discord-token-for-the-log-test',
      SMTP_PASSWORD: 'smtp"pass\\word-for-the-log-test',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/aws-key-for-the-log-test',
    };
    loadConfig({ ...secrets, DATA_DIR: '/tmp/unused' });
    const { out, log } = capture();
    log.warn({ reason: `discord said no to ${secrets.DISCORD_BOT_TOKEN}`, nested: { detail: secrets.SMTP_PASSWORD } }, 'send failed');
    log.error({ err: new Error(`signature with ${secrets.AWS_SECRET_ACCESS_KEY} refused`) }, `login ${secrets.SMTP_PASSWORD} refused`);
    log.info({ url: `https://x.test/?k=${encodeURIComponent(secrets.AWS_SECRET_ACCESS_KEY)}` }, 'fetched');
    const text = out();
    expect(text).toContain('send failed');
    expect(text).toContain('refused');
    expect(text).not.toMatch(/for-the-log-test/);
    expect(scrubSecrets(`token ${secrets.DISCORD_BOT_TOKEN}`)).toBe('token [redacted]');
  });
});

/** The service logger writing into a string. */
function capture(): { out: () => string; log: ReturnType<typeof createLogger> } {
  let out = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      out += String(chunk);
      done();
    },
  });
  return { out: () => out, log: createLogger('info', sink) };
}
