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
  /** The Stripe webhook handler, when payments are configured. */
  stripeWebhook?: Koa.Middleware;
}

/**
 * The service's HTTP face: health, metrics, the pages a payer returns to, and the Stripe webhook.
 * No body parser on purpose: the webhook must see the raw bytes to check their signature.
 */
export function createHttpApp({ db, log, stripeWebhook }: HttpOptions): Koa {
  const app = new Koa({ proxy: true });
  const router = new Router();

  router.get('/healthz', (ctx) => {
    try {
      db.get(sql`select 1`);
      ctx.body = { status: 'ok' };
    } catch (error) {
      log.error({ err: error }, 'health check: database not answering');
      ctx.status = 503;
      ctx.body = { status: 'unavailable' };
    }
  });

  router.get('/metrics', async (ctx) => {
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
