import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
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
});
