import pino, { type Logger } from 'pino';

/**
 * The worker's logger writes to stderr: stdout carries its progress lines (one JSON object per finished input),
 * which the runner that spawned it reads.
 */
export function workerLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: undefined }, pino.destination(2));
}
