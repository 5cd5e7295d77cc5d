import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The ffmpeg binary: `FFMPEG_PATH` if set, else the static build shipped by `@ffmpeg-installer/linux-x64`. */
export function ffmpegPath(): string {
  if (process.env.FFMPEG_PATH) return process.env.FFMPEG_PATH;
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@ffmpeg-installer/linux-x64/package.json')), 'ffmpeg');
}
