import { describe, expect, it } from 'vitest';
import { parseChoices } from '../choices';

describe('choices written in a mail', () => {
  it('reads them from the subject and the top of the body, the body winning', () => {
    expect(parseChoices('Memo language: de; format: srt, vtt', 'Hi,\nformat: txt\nTranslate: ON\nthanks')).toEqual([
      { name: 'language', args: 'de' },
      { name: 'translate', args: 'ON' },
      { name: 'format', args: 'txt' },
    ]);
    expect(parseChoices('language: de format: vtt', undefined)).toEqual([
      { name: 'language', args: 'de' },
      { name: 'format', args: 'vtt' },
    ]);
  });

  it('ignores quoted mail, signatures, ordinary prose and anything below the top of the body', () => {
    expect(parseChoices('Re: your transcript', '> format: json\nformat: vtt')).toEqual([]);
    expect(parseChoices(undefined, 'See you\n-- \nformat: vtt')).toEqual([]);
    expect(parseChoices('Notes (format: vtt!)', 'The file format: it is an mp3 (from my phone).')).toEqual([]);
    expect(parseChoices(undefined, `${'\n'.repeat(30)}format: vtt`)).toEqual([]);
  });
});
