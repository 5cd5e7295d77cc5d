import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ffmpegPath } from '../../src/media/ffmpeg';

const run = promisify(execFile);

/**
 * A short spoken clip (espeak-ng, then Opus in Ogg as a Telegram voice note is), made once per run
 * so the benchmark needs nothing checked in. Returns the file's path.
 */
export async function shortVoiceNote(dir: string, text = 'Call me back after lunch.'): Promise<string> {
  const wav = join(dir, 'note.wav');
  const ogg = join(dir, 'note.ogg');
  await run('espeak-ng', ['-w', wav, text]);
  await run(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-y', '-i', wav, '-ac', '1', '-c:a', 'libopus', '-b:a', '24k', ogg]);
  return ogg;
}
