import { minutes, money } from '../messages';

/** Times as operators read them in a terminal: UTC, to the minute. */
export function when(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

/** `598` -> `598 s (9 min 58 s)`; small amounts stay plain. */
export function seconds(value: number): string {
  const sign = value < 0 ? '-' : '';
  return Math.abs(value) < 60 ? `${value} s` : `${value} s (${sign}${minutes(Math.abs(value))})`;
}

export function cents(value: number | null | undefined, currency: string | null | undefined): string {
  if (value === null || value === undefined || !currency) return '-';
  // Telegram Stars come whole, not in hundredths.
  if (currency === 'xtr') return `${value} Stars`;
  return value < 0 ? `-${money(-value, currency)}` : money(value, currency);
}

/** A plain text table: a header row in capitals and columns padded to their widest cell. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [
    headers.map((h) => h.toUpperCase()),
    ...rows.map((row) => row.map((c) => (c === null || c === undefined ? '-' : String(c)))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const lines = cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  return rows.length === 0 ? `${lines[0]}\n(none)` : lines.join('\n');
}

/** `label: value` lines with the labels aligned. */
export function fields(pairs: [string, string | number | null | undefined][]): string {
  const width = Math.max(...pairs.map(([label]) => label.length)) + 1;
  return pairs
    .map(([label, value]) => `${`${label}:`.padEnd(width)} ${value === null || value === undefined || value === '' ? '-' : value}`)
    .join('\n');
}
