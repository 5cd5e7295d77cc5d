import pino, { type Logger } from 'pino';

export type { Logger };

/** Shapes of credentials that could ride along in an error message or stack (URLs with bot tokens, API keys). */
const SECRET_SHAPES = [
  /bot\d+:[\w-]{20,}/g, // Telegram: https://api.telegram.org/bot<token>/...
  /\b(?:sk|rk)_(?:live|test)_[\w]+/g, // Stripe secret keys
  /\bwhsec_[\w]+/g, // Stripe webhook secrets
  /\/\/[^/\s:@]+:[^/\s@]+@/g, // user:password@ in URLs
];

/** Replaces anything shaped like a credential. */
export function scrubSecrets(text: string): string {
  return SECRET_SHAPES.reduce((out, shape) => out.replace(shape, '[redacted]'), text);
}

/** pino's error serializer, with credentials scrubbed from message and stack. */
function errorSerializer(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  for (const field of ['message', 'stack']) {
    if (typeof serialized[field] === 'string') serialized[field] = scrubSecrets(serialized[field] as string);
  }
  return serialized;
}

/**
 * Structured JSON logs. Secrets and message contents never go in: the rule is to log ids, states
 * and sizes only; the redact list and the error scrubber are a safety net behind it.
 */
export function createLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: undefined,
    serializers: { err: errorSerializer },
    redact: {
      paths: ['*.token', '*.password', '*.secret', '*.apiKey', '*.authorization', 'headers.authorization', '*.text', '*.email'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that writes nothing, for tests and tools that want silence. */
export const silentLogger: Logger = pino({ level: 'silent' });
