import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Secrets and message contents never go in: the redact list is a safety net,
 * the rule is to log ids, states and sizes only.
 */
export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: undefined,
    redact: {
      paths: ['*.token', '*.password', '*.secret', '*.apiKey', '*.authorization', 'headers.authorization', '*.text', '*.email'],
      censor: '[redacted]',
    },
  });
}

/** A logger that writes nothing, for tests and tools that want silence. */
export const silentLogger: Logger = pino({ level: 'silent' });
