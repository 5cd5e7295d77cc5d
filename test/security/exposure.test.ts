import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { ScriptedRunner } from '../support/runners';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

/**
 * `npm start` on a server must not put `/metrics` (order counts, revenue) on the internet: the HTTP server
 * listens on loopback unless told otherwise (the images say `HOST=0.0.0.0` themselves, behind nginx), and
 * `METRICS_TOKEN` guards `/metrics` wherever it listens. `/healthz` stays open for load balancers and says
 * nothing an outsider could use.
 */

const METRICS_TOKEN = 'metrics-token-for-the-exposure-test';

describe('what the HTTP server exposes', () => {
  let svc: TestService;
  let logged = '';
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logged += String(chunk);
        done();
      },
    });
    // HOST empty counts as unset: the default `npm start` gets.
    svc = await startTestService({
      env: { HOST: '', METRICS_TOKEN },
      channels: [new TestChannel()],
      runner: new ScriptedRunner('pending'),
      logTo: sink,
    });
  });
  afterAll(async () => svc?.stop());

  it('listens on loopback by default', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    const started = logged.split('\n').find((line) => line.includes('service started'));
    expect(JSON.parse(started!)).toMatchObject({ host: '127.0.0.1' });
  });

  it('/metrics answers 401 without the bearer token, and the metrics with it', async () => {
    const none = await fetch(`${svc.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(await none.text()).not.toContain('transcribe_');
    const wrong = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const basic = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Basic ${METRICS_TOKEN}` } });
    expect(basic.status).toBe(401);
    const right = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain('# TYPE transcribe_queue_depth_orders gauge');
  });

  it('/healthz needs no token and tells only whether the service and its channels are up', async () => {
    const res = await fetch(`${svc.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', channels: { test: 'up' } });
  });

  it('a METRICS_TOKEN too short to resist guessing stops the start', () => {
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/^METRICS_TOKEN is invalid/);
  });

  it('the images listen on every interface themselves, since nginx reaches the app over the compose network', () => {
    expect(readFileSync('Dockerfile', 'utf8')).toMatch(/^\s+HOST=0\.0\.0\.0/m);
    expect(readFileSync('docker-compose.yml', 'utf8')).toMatch(/^\s+HOST: 0\.0\.0\.0$/m);
  });
});
