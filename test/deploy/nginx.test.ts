import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports';

/**
 * The repository's nginx configuration, run by Debian's nginx on loopback in front of two small HTTP servers
 * standing in for the app's ports (8080 and the Telegram webhook's 8081). Only what differs on a laptop is
 * rewritten (ports, certificate and log paths, the app's host name); every rewrite must match, so a changed
 * configuration fails here instead of silently escaping the test.
 */
const run = promisify(execFile);
const NGINX = '/usr/sbin/nginx';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

async function upstream(seen: Seen[]): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('from the app');
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, port: (server.address() as AddressInfo).port };
}

function replaceExactly(text: string, from: string, to: string): string {
  expect(text, `nginx config no longer contains ${from}`).toContain(from);
  return text.split(from).join(to);
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('nginx in front of the service', () => {
  let dir: string;
  let nginx: ChildProcess | undefined;
  let cert: Buffer;
  let httpPort: number;
  let httpsPort: number;
  const app: Seen[] = [];
  const telegram: Seen[] = [];
  const servers: Server[] = [];

  const https = (method: string, path: string, options: { body?: Buffer | string; headers?: Record<string, string> } = {}) =>
    new Promise<Reply>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: httpsPort,
          servername: 'localhost',
          ca: cert,
          method,
          path,
          headers: { host: 'localhost', ...options.headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('error', reject);
      req.end(options.body);
    });

  const http = (method: string, path: string) =>
    new Promise<Reply>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: httpPort, method, path, headers: { host: 'localhost' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nginx-'));
    // nginx's workers run as an unprivileged user: they read the challenge files.
    await chmod(dir, 0o755);
    await mkdir(join(dir, 'certs'));
    await mkdir(join(dir, 'tls'));
    await mkdir(join(dir, 'www/.well-known/acme-challenge'), { recursive: true });
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      join(dir, 'certs/privkey.pem'),
      '-out',
      join(dir, 'certs/fullchain.pem'),
    ]);
    cert = await readFile(join(dir, 'certs/fullchain.pem'));

    const a = await upstream(app);
    const t = await upstream(telegram);
    servers.push(a.server, t.server);
    httpPort = await freePort();
    httpsPort = await freePort();

    let main = await readFile('nginx/nginx.conf', 'utf8');
    main = replaceExactly(main, 'listen 80 default_server;', `listen 127.0.0.1:${httpPort} default_server;`);
    main = replaceExactly(main, 'root /var/www/certbot;', `root ${dir}/www;`);
    main = replaceExactly(main, 'access_log /var/log/nginx/access.log', `access_log ${dir}/access.log`);
    main = replaceExactly(main, 'include /etc/nginx/tls/*.conf;', `include ${dir}/tls/*.conf;`);
    let site = await readFile('nginx/https.conf', 'utf8');
    site = replaceExactly(site, 'listen 443 ssl http2 default_server;', `listen 127.0.0.1:${httpsPort} ssl http2 default_server;`);
    site = replaceExactly(site, '/etc/letsencrypt/live/transcribe/', `${dir}/certs/`);
    site = replaceExactly(site, 'http://app:8080;', `http://127.0.0.1:${a.port};`);
    site = replaceExactly(site, 'http://app:8081;', `http://127.0.0.1:${t.port};`);
    await writeFile(join(dir, 'nginx.conf'), main);
    // What tls-when-ready.sh does once the certificate exists.
    await writeFile(join(dir, 'tls/https.conf'), site);
    await copyFile(join(dir, 'nginx.conf'), join(dir, 'nginx.conf.orig'));
  });

  afterAll(async () => {
    nginx?.kill('SIGTERM');
    if (nginx && nginx.exitCode === null) await new Promise((done) => nginx!.once('exit', done));
    for (const server of servers) server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const args = () => ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')];

  it('passes nginx -t', async () => {
    const { stderr } = await run(NGINX, [...args(), '-t', '-g', `pid ${dir}/nginx.pid;`]);
    expect(stderr).toContain('syntax is ok');
    expect(stderr).toContain('test is successful');
  });

  it('serves only the webhooks and the pay pages over TLS, with HSTS and limits', async () => {
    nginx = spawn(NGINX, [...args(), '-g', `daemon off; pid ${dir}/nginx.pid;`], { stdio: ['ignore', 'inherit', 'inherit'] });
    for (let i = 0; ; i++) {
      try {
        await http('GET', '/');
        break;
      } catch (error) {
        if (i > 100) throw error;
        await new Promise((done) => setTimeout(done, 50));
      }
    }

    // Port 80: the ACME challenge for certbot, a redirect for everything else.
    await writeFile(join(dir, 'www/.well-known/acme-challenge/token-123'), 'token-123.thumbprint');
    const challenge = await http('GET', '/.well-known/acme-challenge/token-123');
    expect(challenge.status).toBe(200);
    expect(challenge.body).toBe('token-123.thumbprint');
    const redirect = await http('GET', '/pay/success');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('https://localhost/pay/success');

    // The Stripe webhook: the raw body and signature reach the app untouched; HSTS on the answer.
    const event = JSON.stringify({ id: 'evt_1', type: 'checkout.session.completed', data: { object: { id: 'cs_1' } } });
    const hook = await https('POST', '/webhooks/stripe', {
      body: event,
      headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=abc', 'x-forwarded-for': '6.6.6.6' },
    });
    expect(hook.status).toBe(200);
    expect(hook.headers['strict-transport-security']).toBe('max-age=31536000');
    const received = app.at(-1)!;
    expect(received.url).toBe('/webhooks/stripe');
    expect(received.body.toString()).toBe(event);
    expect(received.headers['stripe-signature']).toBe('t=1,v1=abc');
    // A client cannot put addresses of its choice into the chain the app sees.
    expect(received.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(received.headers['x-forwarded-proto']).toBe('https');

    // Telegram's webhook path goes to the webhook listener.
    expect((await https('POST', '/telegram/s3cret-path', { body: '{"update_id":1}' })).status).toBe(200);
    expect(telegram.at(-1)!.url).toBe('/telegram/s3cret-path');

    // Nothing else is reachable from outside, and the refusals carry HSTS too.
    const before = app.length;
    for (const path of ['/metrics', '/healthz', '/', '/pay/other', '/webhooks/other']) {
      const reply = await https('GET', path);
      expect(reply.status, path).toBe(404);
      expect(reply.headers['strict-transport-security']).toBe('max-age=31536000');
    }
    expect((await https('GET', '/webhooks/stripe')).status).toBe(403);
    expect((await https('POST', '/pay/success', { body: 'x' })).status).toBe(403);
    // A body over the webhook's limit is refused before it reaches the app.
    expect((await https('POST', '/webhooks/stripe', { body: Buffer.alloc(600 * 1024, 'a') })).status).toBe(413);
    expect(app.length).toBe(before);

    // The pay pages: the query (a session id) reaches the app but not the access log; people get rate-limited.
    const page = await https('GET', '/pay/success?session_id=cs_live_secret');
    expect(page.status).toBe(200);
    expect(app.at(-1)!.url).toBe('/pay/success?session_id=cs_live_secret');
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await https('GET', '/pay/cancel')).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(10);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);

    const log = await readFile(join(dir, 'access.log'), 'utf8');
    expect(log).toContain('GET /pay/success');
    expect(log).not.toContain('cs_live_secret');
  });
});
