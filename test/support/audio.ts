import { join } from 'node:path';
import { encode, ffmpeg, speak } from './speech';

/** Known speech, spoken by espeak-ng and encoded as `container` (e.g. 'ogg/opus'); returns the file's path. */
export async function spokenFile(
  dir: string,
  name: string,
  text: string,
  container: Parameters<typeof encode>[1] = 'ogg/opus',
): Promise<string> {
  const wav = join(dir, `${name}.source.wav`);
  await speak(text, wav);
  const out = join(dir, name);
  await encode(wav, container, out);
  return out;
}

/**
 * `seconds` of an ffmpeg lavfi audio source (`anullsrc=r=16000:cl=mono` is silence, `anoisesrc=...` noise) as
 * Ogg/Opus at 16 kb/s, as a voice note would come; returns the file's path.
 */
export async function generatedVoiceNote(dir: string, name: string, source: string, seconds: number): Promise<string> {
  const out = join(dir, name);
  await ffmpeg(['-f', 'lavfi', '-i', source, '-t', String(seconds), '-c:a', 'libopus', '-b:a', '16k', out]);
  return out;
}
