/** "9 min 20 s", "45 s", "2 h 5 min": how email replies state a balance. */
export function formatSeconds(total: number): string {
  const s = Math.max(0, Math.floor(total));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = s % 60;
  const parts: string[] = [];
  if (hours) parts.push(`${hours} h`);
  if (minutes) parts.push(`${minutes} min`);
  // Seconds matter below an hour; above it they are noise.
  if (seconds && !hours) parts.push(`${seconds} s`);
  return parts.length ? parts.join(' ') : '0 s';
}
