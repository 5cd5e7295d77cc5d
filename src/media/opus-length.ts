/** Channels the worker decodes in process (`whisper-container/src/opus-pcm.ts`); more go through ffmpeg. */
const MAX_COUNTED_CHANNELS = 2;

/**
 * The length of an Ogg/Opus recording (every voice note Telegram and Discord send) counted from its packets, in
 * process: each Opus packet's first byte (RFC 6716, section 3.1) says how many samples the decoder will make of
 * it, so the count is what decoding yields, whatever the granule positions claim, at a fraction of an ffmpeg run.
 * Returns undefined for anything but one plain mono or stereo Opus stream (several streams, more channels, chained
 * files, bad pages, odd packets), which then goes to the full decode.
 */
export function oggOpusSeconds(data: Buffer): number | undefined {
  let serial: number | undefined;
  let packet: number[] = [];
  let packets = 0;
  let preSkip = 0;
  let samples = 0;
  let lastGranule = -1n;
  let lastPageSamples = 0;
  for (let at = 0; at < data.length;) {
    if (at + 27 > data.length || data.toString('latin1', at, at + 4) !== 'OggS' || data[at + 4] !== 0) return undefined;
    const pageSerial = data.readUInt32LE(at + 14);
    if (serial === undefined) serial = pageSerial;
    else if (pageSerial !== serial) return undefined;
    const segments = data[at + 26]!;
    let body = at + 27 + segments;
    if (body > data.length) return undefined;
    let pageSamples = 0;
    for (let i = 0; i < segments; i++) {
      const lace = data[at + 27 + i]!;
      if (body + lace > data.length) return undefined;
      packet.push(body, body + lace);
      body += lace;
      if (lace === 255) continue;
      // A whole packet: its pieces, possibly over several pages.
      const bytes = Buffer.concat(pairs(packet).map(([from, to]) => data.subarray(from, to)));
      packet = [];
      packets += 1;
      if (packets === 1) {
        if (bytes.length < 19 || bytes.toString('latin1', 0, 8) !== 'OpusHead') return undefined;
        preSkip = bytes.readUInt16LE(10);
        // More channels than a voice note has: the worker decodes such a file through ffmpeg's downmix, so it is
        // measured the same way (a header may declare 255 channels fed by one tiny stream).
        if (bytes[9]! > MAX_COUNTED_CHANNELS) return undefined;
      } else if (packets === 2) {
        if (bytes.toString('latin1', 0, 8) !== 'OpusTags') return undefined;
      } else {
        const count = packetSamples(bytes);
        if (count === undefined) return undefined;
        pageSamples += count;
      }
    }
    samples += pageSamples;
    if (pageSamples > 0) {
      lastGranule = data.readBigInt64LE(at + 6);
      lastPageSamples = pageSamples;
    }
    at = body;
  }
  if (packets < 3) return undefined;
  // The last page's granule may end the stream early (encoder padding), but only within that page, as decoders do.
  const end = lastGranule >= 0n && lastGranule < BigInt(samples) ? Math.max(samples - lastPageSamples, Number(lastGranule)) : samples;
  return Math.max(0, end - preSkip) / 48_000;
}

function pairs(flat: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** Samples per frame at 48 kHz for each of the 32 configurations: SILK (10/20/40/60 ms), hybrid (10/20), CELT (2.5/5/10/20). */
const SILK = [480, 960, 1920, 2880];
const HYBRID = [480, 960];
const CELT = [120, 240, 480, 960];
const FRAME_SAMPLES = [...SILK, ...SILK, ...SILK, ...HYBRID, ...HYBRID, ...CELT, ...CELT, ...CELT, ...CELT];

/** Samples one Opus packet decodes to, or undefined when it is not a valid packet (longer than 120 ms, cut short). */
function packetSamples(packet: Buffer): number | undefined {
  if (packet.length === 0) return undefined;
  const toc = packet[0]!;
  const frame = FRAME_SAMPLES[toc >> 3]!;
  const code = toc & 3;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code === 1 || code === 2) frames = 2;
  else {
    if (packet.length < 2) return undefined;
    frames = packet[1]! & 0x3f;
    if (frames === 0) return undefined;
  }
  const total = frames * frame;
  return total > 5760 ? undefined : total;
}
