import { describe, expect, it } from 'vitest';
import { displayName } from '../../src/intake/file-names';
import { uniqueStems } from '../../src/outbox/result-names';

describe("the names a user's files come back under", () => {
  it('are distinct within an order even where a made-up suffix meets a real name, whatever the case', () => {
    expect(uniqueStems(['talk.mp3', 'talk.ogg', 'talk-2.ogg'])).toEqual(['talk', 'talk-3', 'talk-2']);
    expect(uniqueStems(['talk-2.ogg', 'talk.ogg', 'TALK.mp3'])).toEqual(['talk-2', 'talk', 'TALK-3']);
    expect(uniqueStems(['voice.ogg', 'voice.ogg', 'voice.ogg'])).toEqual(['voice', 'voice-2', 'voice-3']);
    const many = uniqueStems(['a.ogg', 'a-2.ogg', 'a.ogg', 'a-3.ogg', 'a.mp3', 'a-2.mp3', 'a-2-2.ogg']);
    expect(new Set(many.map((s) => s.toLowerCase())).size).toBe(many.length);
  });

  it('carry no control, line-breaking, text-direction or zero-width characters', () => {
    const hostile = [
      'invoice\u202Eggo.exe',
      'a\u2028• Payment received.mp3',
      'b\u0085c.mp3',
      'x\u2029y.mp3',
      'z\u2066w\u2069.ogg',
      '\u200b',
      'n\u061cm\u200f.ogg',
    ];
    for (const raw of hostile) {
      const name = displayName(raw, 0);
      // eslint-disable-next-line no-control-regex -- control characters are what must be gone
      expect(name).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/);
      expect(name.length).toBeGreaterThan(0);
    }
    expect(displayName('invoice\u202Eggo.exe', 0)).toBe('invoiceggo.exe');
    expect(displayName('\u200b', 2)).toBe('recording-3');
    // Joiners stay: they hold emoji sequences together.
    expect(displayName('family \u{1F468}\u200d\u{1F469}.ogg', 0)).toBe('family \u{1F468}\u200d\u{1F469}.ogg');
  });
});
