import { describe, expect, it } from 'vitest';
import { ConfigError, workerConfig } from '../src/config';

/** The worker reads its environment the way the service does: defaults for unset, one line naming a bad variable. */
describe("the worker's configuration", () => {
  const base = { DATA_DIR: '/srv/data', WHISPER_MODEL: '/models/ggml-tiny.en.bin' };

  it('takes the documented defaults, and treats empty variables as unset', () => {
    const config = workerConfig({ ...base, STORAGE: '', WHISPER_THREADS: '', WHISPER_FLASH_ATTN: '' });
    expect(config).toMatchObject({ storage: 'local', blobRoot: '/srv/data/blobs', flashAttention: false, maxSeconds: undefined });
    expect(config.threads).toBeGreaterThan(0);
  });

  it('reads every setting', () => {
    const config = workerConfig({
      ...base,
      STORAGE: 's3',
      WHISPER_THREADS: '8',
      WHISPER_ENGINES: '2',
      WHISPER_SERVER: '/opt/whisper-server',
      WHISPER_FLASH_ATTN: 'true',
      FFMPEG_PATH: '/usr/bin/ffmpeg',
      MAX_FILE_SECONDS: '600',
    });
    expect(config).toMatchObject({
      storage: 's3',
      threads: 8,
      engines: 2,
      serverBinary: '/opt/whisper-server',
      flashAttention: true,
      ffmpeg: '/usr/bin/ffmpeg',
      maxSeconds: 600,
    });
  });

  it.each([
    ['STORAGE', 'disk'],
    ['WHISPER_THREADS', '0'],
    ['WHISPER_THREADS', 'four'],
    ['WHISPER_ENGINES', '1.5'],
    ['WHISPER_FLASH_ATTN', 'maybe'],
    ['MAX_FILE_SECONDS', '-1'],
  ])('stops on %s=%s with one line that names it, as the service does', (name, value) => {
    expect(() => workerConfig({ ...base, [name]: value })).toThrow(ConfigError);
    expect(() => workerConfig({ ...base, [name]: value })).toThrow(new RegExp(`^${name} is invalid: `));
  });
});
