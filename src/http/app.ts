import { createHash, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import { sql } from 'drizzle-orm';
import type { Db } from '../db';
import type { Logger } from '../log';
import { registry } from '../metrics';
import { cancelPage, successPage } from './pages';

export interface HttpOptions {
  db: Db;
  log: Logger;
  /** Each channel's state (`up`, `starting`, `down`), reported by `/healthz`. */
  channels?: () => Record<string, string | undefined>;
  /** `/metrics` answers only requests with `Authorization: Bearer <metricsToken>` when set. */
  metricsToken?: string;
  /** The Stripe webhook handler, when payments are configured. */
  stripeWebhook?: Koa.Middleware;
}

/**
 * The service's HTTP face: health, metrics, the pages a payer returns to, and the Stripe webhook.
 * No body parser on purpose: the webhook must see the raw bytes to check their signature.
 */
export function createHttpApp({ db, log, channels, metricsToken, stripeWebhook }: HttpOptions): Koa {
  const app = new Koa({ proxy: true });
  const router = new Router();

  // 200 while the database answers: a channel that is down is reported, not fatal (it retries on its own,
  // and restarting the service would not bring Telegram or the mail server back).
  router.get('/healthz', (ctx) => {
    const states = channels?.() ?? {};
    try {
      db.get(sql`select 1`);
      ctx.body = { status: 'ok', channels: states };
    } catch (error) {
      log.error({ err: error }, 'health check: database not answering');
      ctx.status = 503;
      ctx.body = { status: 'unavailable', channels: states };
    }
  });

  router.get('/metrics', async (ctx) => {
    if (metricsToken !== undefined && !bearerMatches(ctx.get('authorization'), metricsToken)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer');
      ctx.body = { error: 'unauthorized' };
      return;
    }
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });

  router.get('/pay/success', (ctx) => {
    ctx.type = 'html';
    ctx.body = successPage;
  });

  router.get('/pay/cancel', (ctx) => {
    ctx.type = 'html';
    ctx.body = cancelPage;
  });

  if (stripeWebhook) router.post('/webhooks/stripe', stripeWebhook);

  app.use(async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (error) {
      log.error({ err: error, path: ctx.path }, 'request failed');
      ctx.status = 500;
      ctx.body = { error: 'internal error' };
    }
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

/** Whether `header` is `Bearer <token>`, compared in constant time (hashes of equal length). */
function bearerMatches(header: string, token: string): boolean {
  const given = /^Bearer (.+)$/.exec(header)?.[1];
  if (given === undefined) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(token));
}
