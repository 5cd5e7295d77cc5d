/** Decoding pieces that need no engine: container sniffing and silence-seeking windows. */
import { describe, expect, it } from 'vitest';
import { sniffContainer } from '../src/sniff';
import { audioWindows } from '../src/windows';

async function* chunks(buffer: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size);
}

/** 16 kHz s16le: a loud tone everywhere except a quiet gap at `gapAt` seconds. */
function toneWithGap(seconds: number, gapAt: number): Buffer {
  const samples = seconds * 16_000;
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    const t = i / 16_000;
    const quiet = t >= gapAt && t < gapAt + 0.4;
    pcm.writeInt16LE(quiet ? 0 : Math.round(8000 * Math.sin(2 * Math.PI * 220 * t)), i * 2);
  }
  return pcm;
}

describe('sniffContainer', () => {
  it('knows the containers people send by their first bytes', () => {
    expect(sniffContainer(Buffer.from('OggS\0\x02rest'))).toBe('ogg');
    expect(sniffContainer(Buffer.from('ID3\x04\0\0\0\0'))).toBe('mp3');
    expect(sniffContainer(Buffer.from([0xff, 0xfb, 0x90, 0x64]))).toBe('mp3');
    expect(sniffContainer(Buffer.from([0xff, 0xf1, 0x50, 0x80]))).toBe('aac');
    expect(sniffContainer(Buffer.from('\0\0\0\x20ftypisom'))).toBe('mp4');
    expect(sniffContainer(Buffer.from('RIFF\0\0\0\0WAVEfmt '))).toBe('wav');
    expect(sniffContainer(Buffer.from('fLaC\0\0\0\x22'))).toBe('flac');
    expect(sniffContainer(Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f]))).toBe('matroska');
  });

  it('says nothing for documents and pictures', () => {
    expect(sniffContainer(Buffer.from('%PDF-1.7\n'))).toBeNull();
    expect(sniffContainer(Buffer.from('\x89PNG\r\n\x1a\n'))).toBeNull();
    expect(sniffContainer(Buffer.from('Dear team,'))).toBeNull();
    expect(sniffContainer(Buffer.alloc(0))).toBeNull();
  });
});

describe('audioWindows', () => {
  it('cuts at the quiet moment, keeps every sample, and never exceeds the window', async () => {
    const pcm = toneWithGap(50, 24);
    const windows = [];
    // Odd chunk sizes: a chunk boundary inside a sample must not shift the audio.
    for await (const window of audioWindows(chunks(pcm, 4095), { maxSeconds: 30, minSeconds: 20 })) windows.push(window);
    expect(windows).toHaveLength(2);
    expect(windows[0]!.pcm.length / 32_000).toBeGreaterThanOrEqual(24);
    expect(windows[0]!.pcm.length / 32_000).toBeLessThanOrEqual(24.4);
    expect(windows[1]!.offset).toBeCloseTo(windows[0]!.pcm.length / 32_000, 5);
    expect(Buffer.concat(windows.map((w) => w.pcm)).equals(pcm)).toBe(true);
  });

  it('measures each window so silent ones can be skipped', async () => {
    const windows = [];
    for await (const window of audioWindows(chunks(Buffer.alloc(16_000 * 2 * 5), 1000))) windows.push(window);
    expect(windows).toHaveLength(1);
    expect(windows[0]!.peakDb).toBeLessThan(-100);
  });
});
