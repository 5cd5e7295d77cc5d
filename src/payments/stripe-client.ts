import Stripe from 'stripe';

export interface StripeClientOptions {
  secretKey: string;
  /** `STRIPE_API_BASE`, e.g. `http://127.0.0.1:12111`; Stripe's own API when absent. */
  apiBase?: string;
  /** Network retries per call, with the SDK's backoff; default 2. */
  maxNetworkRetries?: number;
  /** Per-request timeout; default 30 s. */
  timeoutMs?: number;
}

/** The Stripe SDK as every part of the service uses it: the configured API base, retries, a timeout, no telemetry. */
export function stripeClient(options: StripeClientOptions): Stripe {
  return new Stripe(options.secretKey, {
    ...apiBaseConfig(options.apiBase),
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: options.timeoutMs ?? 30_000,
    telemetry: false,
    appInfo: { name: 'transcribe-service' },
  });
}

/** Host, port and protocol for the SDK from a base URL such as `http://127.0.0.1:12111`. */
function apiBaseConfig(apiBase: string | undefined): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  if (!apiBase) return {};
  const url = new URL(apiBase);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`STRIPE_API_BASE must be http(s): ${apiBase}`);
  if (url.pathname !== '/' && url.pathname !== '') throw new RangeError(`STRIPE_API_BASE must not have a path: ${apiBase}`);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port || (protocol === 'http' ? 80 : 443), protocol };
}
