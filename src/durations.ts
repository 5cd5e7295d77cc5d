const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `90s`, `30m`, `6h`, `1d` -> milliseconds; undefined when `text` is not such a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,6})\s*([smhd])$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/**
 * A point in time given on a command line: `2026-11-01`, `2026-11-01T12:00` (UTC unless it names a zone),
 * or a duration back from `now` (`7d`, `12h`). Undefined when it is none of these.
 */
export function parseSince(text: string, now = Date.now()): number | undefined {
  const back = parseDuration(text);
  if (back !== undefined) return now - back;
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) return undefined;
  const iso = text.replace(' ', 'T');
  const zoned = /T.*(Z|[+-]\d{2}:?\d{2})$/.test(iso) || !iso.includes('T') ? iso : `${iso}Z`;
  const at = Date.parse(zoned.includes('T') ? zoned : `${zoned}T00:00:00Z`);
  return Number.isNaN(at) ? undefined : at;
}
