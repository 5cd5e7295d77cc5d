import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The ffmpeg binary: `FFMPEG_PATH` when set (the GPU image uses Debian's), otherwise the static build the npm
 * package `@ffmpeg-installer/linux-x64` ships, so `npm ci` alone is enough to decode every container.
 */
export function ffmpegPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FFMPEG_PATH) return env.FFMPEG_PATH;
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@ffmpeg-installer/linux-x64/package.json')), 'ffmpeg');
}
