/**
 * Credentials kept out of everything an operator or a backup sees: logs, recorded errors, admin output. Each
 * configured secret's value is scrubbed wherever it appears, and so is anything shaped like a credential, for
 * the ones this process never read (another bot's token in a URL, a key pasted into an error).
 */

/** Environment variables whose values are credentials. */
export const SECRET_VARIABLES = [
  'TELEGRAM_BOT_TOKEN',
  'TELEGRAM_WEBHOOK_SECRET',
  'DISCORD_BOT_TOKEN',
  'IMAP_PASSWORD',
  'SMTP_PASSWORD',
  'STRIPE_SECRET_KEY',
  'STRIPE_WEBHOOK_SECRET',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'METRICS_TOKEN',
] as const;

/** What a scrubbed credential is replaced with. */
export const REDACTED = '[redacted]';

/** Shapes of credentials that could ride along in an error message or stack (URLs with bot tokens, API keys). */
const SECRET_SHAPES = [
  /bot\d+:[\w-]+/g, // Telegram: https://api.telegram.org/bot<token>/..., whatever the token's length
  /\b(?:sk|rk)_(?:live|test)_\w+/g, // Stripe secret keys
  /\bwhsec_\w+/g, // Stripe webhook secrets
  /\/\/[^/\s:@]+:[^/\s@]+@/g, // user:password@ in URLs
];

/** Shorter values are not scrubbed by value: replacing every "abc" in every line would garble logs, not hide a secret. */
const MIN_SECRET_LENGTH = 6;

const known = new Set<string>();
let byValue: RegExp | undefined;

/**
 * Remembers the credentials among `env`'s values (the variables in `SECRET_VARIABLES`), so that `scrubSecrets`
 * removes them wherever they appear: as they are, URL-encoded, or escaped inside JSON text.
 */
export function registerSecrets(env: NodeJS.ProcessEnv): void {
  const before = known.size;
  for (const name of SECRET_VARIABLES) {
    const value = env[name];
    if (!value || value.length < MIN_SECRET_LENGTH) continue;
    for (const form of [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]) known.add(form);
  }
  if (known.size === before) return;
  // Longest first, so that a secret containing another is removed whole.
  const alternatives = [...known].sort((a, b) => b.length - a.length).map(escapeRegExp);
  byValue = new RegExp(alternatives.join('|'), 'g');
}

/** `text` with every registered credential and anything shaped like one replaced by `[redacted]`. */
export function scrubSecrets(text: string): string {
  const scrubbed = byValue ? text.replace(byValue, REDACTED) : text;
  return SECRET_SHAPES.reduce((out, shape) => out.replace(shape, REDACTED), scrubbed);
}

/** The message of anything thrown, scrubbed: for errors that are stored or shown. */
export function scrubbedMessage(error: unknown): string {
  return scrubSecrets(error instanceof Error ? error.message : String(error));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
