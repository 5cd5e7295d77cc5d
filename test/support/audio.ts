import { join } from 'node:path';
import { encode, speak } from './speech';

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
