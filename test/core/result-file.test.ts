import { describe, expect, it } from 'vitest';
import { parseResultFile } from '../../src/domain/transcript';

/** `NAME_result.json` as the worker writes it and the service reads it (docs/result-format.md). */
describe('a result file', () => {
  const good = {
    version: 1,
    file: 'voice.ogg',
    duration: 4.54,
    language: 'en',
    model: 'tiny.en',
    text: 'The quick brown fox.',
    segments: [{ start: 0, end: 2.6, text: 'The quick brown fox.' }],
  };

  it('reads the documented result, and a failure', () => {
    expect(parseResultFile(JSON.stringify(good))).toEqual({ ok: true, result: good });
    const failure = { version: 1, file: 'x.ogg', error: { code: 'not_audio', message: 'The file is not audio.' } };
    expect(parseResultFile(JSON.stringify(failure))).toEqual({ ok: true, result: failure });
  });

  it.each([
    ['a newer version', { ...good, version: 2 }],
    ['text that is not text', { ...good, text: null }],
    ['a time that is not a number', { ...good, segments: [{ start: 'soon', end: 1, text: 'x' }] }],
    ['no segments', { ...good, segments: undefined }],
    ['an unknown failure code', { version: 1, file: 'x', error: { code: 'oops', message: 'x' } }],
  ])('refuses %s, saying what is wrong', (_, body) => {
    const read = parseResultFile(JSON.stringify(body));
    expect(read.ok).toBe(false);
    expect(!read.ok && read.reason).toMatch(/\S/);
  });

  it('refuses what is not JSON', () => {
    expect(parseResultFile('{"version": 1,')).toEqual({ ok: false, reason: 'not JSON' });
  });
});
