import { appendFileSync, existsSync } from 'node:fs';

/**
 * Crash injection for the crash-safety tests: when `CRASH_AT` names this point, the process kills
 * itself with SIGKILL right here, once (a marker file in `CRASH_MARKER` records that it happened),
 * exactly as a power cut or OOM kill would. Unset in production, this is one string compare.
 */
export function crashPoint(name: string): void {
  if (process.env.CRASH_AT !== name) return;
  const marker = process.env.CRASH_MARKER;
  if (!marker || existsSync(marker)) return;
  appendFileSync(marker, `${name}\n`);
  process.kill(process.pid, 'SIGKILL');
}
