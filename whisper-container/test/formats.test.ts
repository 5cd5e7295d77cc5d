import { describe, expect, it } from 'vitest';
import type { TranscriptResult } from '../../src/domain/transcript';
import { renderTranscript, timecode } from '../../src/formats';

const result: TranscriptResult = {
  version: 1,
  file: 'voice.ogg',
  duration: 3725.5,
  language: 'en',
  model: 'tiny.en',
  text: 'Hello there. Fish & chips --> <b>tonight</b>.',
  segments: [
    { start: 0, end: 2.5, text: ' Hello there.' },
    { start: 3661.9996, end: 3665, text: ' Fish & chips --> <b>tonight</b>.' },
  ],
};

describe('transcript formats', () => {
  it('writes timecodes that carry milliseconds over correctly', () => {
    expect(timecode(0, ',')).toBe('00:00:00,000');
    expect(timecode(59.9996, ',')).toBe('00:01:00,000');
    expect(timecode(3661.25, '.')).toBe('01:01:01.250');
    expect(timecode(-1, '.')).toBe('00:00:00.000');
  });

  it('renders SubRip that players accept', () => {
    expect(renderTranscript(result, 'srt')).toBe(
      '1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:01:02,000 --> 01:01:05,000\nFish & chips -> <b>tonight</b>.\n',
    );
  });

  it('renders WebVTT with its header and escaped markup', () => {
    expect(renderTranscript(result, 'vtt')).toBe(
      'WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n01:01:02.000 --> 01:01:05.000\nFish &amp; chips --&gt; &lt;b&gt;tonight&lt;/b&gt;.\n',
    );
  });

  it('renders text one segment per line and json as the result document', () => {
    expect(renderTranscript(result, 'txt')).toBe('Hello there.\nFish & chips --> <b>tonight</b>.\n');
    expect(JSON.parse(renderTranscript(result, 'json'))).toEqual(result);
  });

  it('renders a no-speech result as empty text and cue-less subtitles', () => {
    const silent: TranscriptResult = { ...result, text: '', segments: [], noSpeech: true };
    expect(renderTranscript(silent, 'txt')).toBe('');
    expect(renderTranscript(silent, 'srt')).toBe('');
    expect(renderTranscript(silent, 'vtt')).toBe('WEBVTT\n');
  });
});
