import pino, { type Logger } from 'pino';
import { scrubSecrets } from './secrets';

export type { Logger };
export { scrubSecrets };

/** pino's error serializer, with credentials scrubbed from message and stack. */
function errorSerializer(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  for (const field of ['message', 'stack']) {
    if (typeof serialized[field] === 'string') serialized[field] = scrubSecrets(serialized[field] as string);
  }
  return serialized;
}

/**
 * Every line on its way out, scrubbed of credentials (`src/secrets.ts`): whatever field or message a token
 * slipped into (an error message kept as a string, a URL), it does not reach the log.
 */
function scrubbing(destination: pino.DestinationStream): pino.DestinationStream {
  return { write: (line: string) => destination.write(scrubSecrets(line)) };
}

/**
 * Structured JSON logs. Secrets and message contents never go in: the rule is to log ids, states
 * and sizes only; the redact list and the scrubbing of every line are a safety net behind it.
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
  return pino(options, scrubbing(destination ?? pino.destination(1)));
}

/** A logger that writes nothing, for tests and tools that want silence. */
export const silentLogger: Logger = pino({ level: 'silent' });
