import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { ScriptedRunner } from '../support/runners';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

describe('HTTP endpoints', () => {
  let svc: TestService;
  const channel = new TestChannel();
  beforeAll(async () => {
    svc = await startTestService({ channels: [channel], runner: new ScriptedRunner('pending') });
  });
  afterAll(async () => svc?.stop());

  it('/healthz answers 200 with JSON while the database answers', async () => {
    const res = await fetch(`${svc.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', channels: { test: 'up' } });
  });

  it('/metrics shows orders by state and queue depth in Prometheus text', async () => {
    await channel.receive(channel.command('rae', 'balance'));
    const res = await fetch(`${svc.url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const body = await res.text();
    expect(body).toContain('# TYPE transcribe_queue_depth_orders gauge');
    expect(body).toMatch(/transcribe_intake_messages_total\{channel="test"\} \d+/);
    expect(body).toContain('transcribe_delivery_latency_seconds_bucket');
  });

  it('the payment return pages tell the payer what happens next, and echo nothing', async () => {
    const ok = await fetch(`${svc.url}/pay/success?session_id=<script>alert(1)</script>`);
    expect(ok.status).toBe(200);
    const html = await ok.text();
    expect(html).toContain('Payment received');
    expect(html).not.toContain('<script>');
    const cancel = await (await fetch(`${svc.url}/pay/cancel`)).text();
    expect(cancel).toContain('Nothing was charged');
  });

  it('without Stripe configured there is no webhook route', async () => {
    const res = await fetch(`${svc.url}/webhooks/stripe`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
  });
});

describe('configuration', () => {
  it('takes the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      publicUrl: 'http://localhost:8080',
      pricing: { freeSeconds: 600, pricePerMinuteCents: 10, minimumPaymentCents: 50, currency: 'usd' },
      limits: { maxFileBytes: 2147483648, maxFileSeconds: 14400, maxFilesPerMessage: 20 },
      storage: { kind: 'local' },
      runner: { kind: 'local', concurrency: 1 },
    });
    expect(config.telegram).toBeUndefined();
    expect(config.mail).toBeUndefined();
    expect(config.stripe).toBeUndefined();
  });

  it('reads a blank value as unset, not as zero', () => {
    const config = loadConfig({ PORT: ' ', NEW_USER_FREE_SECONDS: '  ', PUBLIC_URL: 'https://transcribe.example.com/' });
    expect(config.port).toBe(8080);
    expect(config.pricing.freeSeconds).toBe(600);
    expect(config.publicUrl).toBe('https://transcribe.example.com');
  });

  it('sells for Telegram Stars on Telegram by default, and sends the Stripe link there only when told to', () => {
    const token = { TELEGRAM_BOT_TOKEN: '123456:ABC-def' };
    expect(loadConfig(token).telegram?.stars).toEqual({ perMinute: 5, minimum: 25 });
    expect(loadConfig({ ...token, STARS_PER_MINUTE: '7', STARS_MINIMUM: '1' }).telegram?.stars).toEqual({ perMinute: 7, minimum: 1 });
    expect(loadConfig({ ...token, TELEGRAM_PAYMENTS: 'stripe' }).telegram?.stars).toBeUndefined();
  });

  it.each([
    [{ PORT: 'eighty' }, /^PORT is invalid/],
    [{ PORT: '0x1F90' }, /^PORT is invalid: a whole number in decimal digits/],
    [{ BACKUP_TO: 'S3://bucket/backups' }, /^BACKUP_TO is invalid/],
    [{ BACKUP_TO: 's3:/bucket/backups' }, /^BACKUP_TO is invalid/],
    [{ NEW_USER_FREE_SECONDS: '1e3' }, /^NEW_USER_FREE_SECONDS is invalid/],
    [{ CURRENCY: 'dollars' }, /^CURRENCY is invalid/],
    [{ STRIPE_SECRET_KEY: 'sk_test_x' }, /^STRIPE_WEBHOOK_SECRET is required/],
    [{ IMAP_HOST: 'imap.test' }, /^IMAP_USER is required/],
    [{ IMAP_HOST: 'imap.test', IMAP_USER: 'u', IMAP_PASSWORD: 'p', SMTP_HOST: 's' }, /^MAIL_AUTHSERV_ID is required/],
    // Copied with the ';' or the rest of the header: it could never match a field, so every mail would go unanswered.
    [{ MAIL_AUTHSERV_ID: 'mx.example.com;' }, /^MAIL_AUTHSERV_ID is invalid/],
    [{ MAIL_AUTHSERV_ID: 'mx.example.com; dmarc=pass' }, /^MAIL_AUTHSERV_ID is invalid/],
    [{ RUNNER: 'batch' }, /^BATCH_JOB_QUEUE is required/],
    [{ RUNNER: 'batch', BATCH_JOB_QUEUE: 'q', BATCH_JOB_DEFINITION: 'd' }, /^STORAGE must be s3 when RUNNER=batch/],
    [{ TELEGRAM_BOT_TOKEN: 'not a token' }, /^TELEGRAM_BOT_TOKEN is invalid/],
    [{ TELEGRAM_PAYMENTS: 'card' }, /^TELEGRAM_PAYMENTS is invalid/],
    [{ STARS_PER_MINUTE: '0' }, /^STARS_PER_MINUTE is invalid/],
    // `new URL` reads these as URLs whose scheme is the host: every pay link would be built on them.
    [{ PUBLIC_URL: 'transcribe.example.com:8443' }, /^PUBLIC_URL is invalid: an http:\/\/ or https:\/\/ address with a host/],
    [{ PUBLIC_URL: 'localhost:8080' }, /^PUBLIC_URL is invalid/],
    [{ PUBLIC_URL: 'ftp://transcribe.example.com' }, /^PUBLIC_URL is invalid/],
    [{ PUBLIC_URL: 'https://transcribe.example.com/?via=ads' }, /^PUBLIC_URL is invalid: no query/],
    [{ S3_ENDPOINT: 'minio:9000' }, /^S3_ENDPOINT is invalid/],
    [{ STRIPE_API_BASE: 'localhost:12111' }, /^STRIPE_API_BASE is invalid/],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('npm start with a bad value stops with one clear line and status 1, never echoing secrets', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/app/main.ts'], {
      env: { PATH: process.env.PATH, PORT: '99999', STRIPE_SECRET_KEY: 'sk_live_secretvalue' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe('Configuration error: PORT is invalid: Too big: expected number to be <=65535');
    expect(run.stderr + run.stdout).not.toContain('secretvalue');
  });
});
