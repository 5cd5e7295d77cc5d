/**
 * Writes a ggml Whisper model (whisper.cpp's legacy format) with large-v3-turbo's shapes and seeded random weights,
 * for timing the worker on a GPU where the real 1.6 GB file cannot be had. Same tensors, sizes and types as the real
 * model, so every matrix product, attention and copy costs what it would; the words it says mean nothing.
 *
 *   node turbo-shapes.mjs TINY_EN_MODEL OUT [tiny]
 *
 * The tensor list, types and vocabulary come from the tiny.en file given (its dimensions mapped to the larger ones;
 * the multilingual vocabulary's one extra regular token is left empty, as in the real multilingual files). `tiny`
 * writes tiny's dimensions with the multilingual vocabulary instead: a quick check of the file on a CPU.
 *
 * What is decoded is fixed by the weights, so that every 30 s window costs what speech costs: the decoder's blocks
 * add almost nothing to the residual stream (small random weights), and the positional embedding at each position
 * points at the token embedding of the next token of a set script: 4 segments of 22 distinct words with their
 * timestamps, then end of text, 97 tokens per window (English speech at about 150 words a minute gives about as
 * many). Every token is then about certain (log-probability near 0), so no window falls back to sampling at a
 * higher temperature or is read a second time by the worker, as random weights would otherwise cause.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

interface Shape {
  nState: number;
  nHead: number;
  nEncoderLayers: number;
  nDecoderLayers: number;
  nMels: number;
}

const TURBO: Shape = { nState: 1280, nHead: 20, nEncoderLayers: 32, nDecoderLayers: 4, nMels: 128 };
const TINY: Shape = { nState: 384, nHead: 6, nEncoderLayers: 4, nDecoderLayers: 4, nMels: 80 };
/** large-v3's vocabulary: 100 languages, so the special tokens sit one and two places later than in tiny.en's. */
const N_VOCAB = 51866;
const TOKEN_EOT = 50257;
const TOKEN_BEG = 50365;
/** Tokens the file itself lists; whisper.cpp names the specials above them. */
const N_REGULAR = 50257;
/** How strongly the positional embedding points at the next token (the token embedding's rows have norm ~0.9). */
const PULL = 100;
/** The prompt is <|startoftranscript|> <|en|> <|transcribe|>: the first token is chosen at position 2. */
const FIRST_POSITION = 2;

/** xorshift32: seeded, fast, plenty for weights nobody reads. */
class Random {
  constructor(private state = 0x9e3779b9) {}
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
}

/** Half-precision bits of ±m·2^e with a random sign and 10-bit mantissa: magnitudes in [2^e, 2^(e+1)). */
function fillHalf(out: Uint16Array, random: Random, exponent: number): void {
  const base = (exponent + 15) << 10;
  for (let i = 0; i < out.length; i += 2) {
    const r = random.next();
    out[i] = ((r & 1) << 15) | base | ((r >>> 1) & 0x3ff);
    if (i + 1 < out.length) out[i + 1] = (((r >>> 11) & 1) << 15) | base | ((r >>> 12) & 0x3ff);
  }
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

interface SourceTensor {
  name: string;
  dims: number[];
  type: number;
}

/** Reads the tiny.en file's vocabulary and tensor list (names, dimensions, types). */
function readSource(path: string): { vocab: Buffer[]; tensors: SourceTensor[] } {
  const file = readFileSync(path);
  let at = 0;
  const int = () => {
    const value = file.readInt32LE(at);
    at += 4;
    return value;
  };
  if (int() !== 0x67676d6c) throw new Error(`${path} is not a ggml Whisper model`);
  at += 11 * 4;
  const nMel = int();
  const nFft = int();
  at += nMel * nFft * 4;
  const vocab: Buffer[] = [];
  for (let i = int(); i > 0; i--) {
    const length = int();
    vocab.push(file.subarray(at, at + length));
    at += length;
  }
  const tensors: SourceTensor[] = [];
  while (at < file.length) {
    const nDims = int();
    const nameLength = int();
    const type = int();
    const dims = Array.from({ length: nDims }, int);
    const name = file.toString('utf8', at, at + nameLength);
    at += nameLength + dims.reduce((a, b) => a * b, 1) * (type === 1 ? 2 : 4);
    tensors.push({ name, dims, type });
  }
  return { vocab, tensors };
}

/** The script every window decodes: segments of distinct words between timestamps, then end of text. */
function script(vocab: Buffer[]): number[] {
  const words: number[] = [];
  for (let id = 1000; id < vocab.length && words.length < 88; id += 7) {
    if (/^ [a-z]{4,9}$/.test(vocab[id]!.toString('latin1'))) words.push(id);
  }
  const tokens = [TOKEN_BEG];
  const ends = [250, 500, 750, 950]; // 5, 10, 15 and 19 s: inside every window of 20 s or more
  ends.forEach((end, segment) => {
    tokens.push(...words.slice(segment * 22, segment * 22 + 22), TOKEN_BEG + end);
    if (segment < ends.length - 1) tokens.push(TOKEN_BEG + end);
  });
  tokens.push(TOKEN_EOT);
  return tokens;
}

function main(): void {
  const [source, target, which] = process.argv.slice(2);
  if (!source || !target) throw new Error('usage: turbo-shapes TINY_EN_MODEL OUT [tiny]');
  const shape = which === 'tiny' ? TINY : TURBO;
  const { vocab, tensors } = readSource(source);
  const map = new Map([
    [TINY.nState, shape.nState],
    [4 * TINY.nState, 4 * shape.nState],
    [TINY.nMels, shape.nMels],
    [51864, N_VOCAB],
  ]);
  const out = openSync(target, 'w');
  const write = (buffer: Uint8Array | Buffer) => writeSync(out, buffer);
  const ints = (...values: number[]) => write(Buffer.from(Int32Array.from(values).buffer));

  ints(0x67676d6c, N_VOCAB, 1500, shape.nState, shape.nHead, shape.nEncoderLayers, 448, shape.nState, shape.nHead);
  ints(shape.nDecoderLayers, shape.nMels, 1);
  // Mel filters: triangles spread over the 201 FFT bins (what they look like changes no cost).
  const filters = new Float32Array(shape.nMels * 201);
  for (let m = 0; m < shape.nMels; m++) {
    const centre = ((m + 1) * 200) / (shape.nMels + 1);
    for (let bin = 0; bin < 201; bin++) filters[m * 201 + bin] = Math.max(0, 1 - Math.abs(bin - centre) / 2);
  }
  ints(shape.nMels, 201);
  write(new Uint8Array(filters.buffer));
  ints(N_REGULAR);
  for (let i = 0; i < N_REGULAR; i++) {
    const token = vocab[i] ?? Buffer.alloc(0);
    ints(token.length);
    write(token);
  }

  const random = new Random();
  const embedding = new Uint16Array(N_VOCAB * shape.nState);
  fillHalf(embedding, random, -6); // rows of norm ~0.9 at 1280 wide
  const sequence = script(vocab);
  const list = tensors.filter((tensor) => !/^encoder\.blocks\.[1-9]/.test(tensor.name));
  for (const tensor of list) {
    const layers = tensor.name.startsWith('encoder.blocks.0.') ? shape.nEncoderLayers : 1;
    for (let layer = 0; layer < layers; layer++) {
      const name = tensor.name.replace('encoder.blocks.0.', `encoder.blocks.${layer}.`);
      const dims = tensor.dims.map((dim) => map.get(dim) ?? dim);
      const count = dims.reduce((a, b) => a * b, 1);
      const encoded = Buffer.from(name, 'utf8');
      ints(dims.length, encoded.length, tensor.type, ...dims);
      write(encoded);
      if (name === 'decoder.token_embedding.weight') {
        write(new Uint8Array(embedding.buffer));
      } else if (name === 'decoder.positional_embedding') {
        // Position p holds the token chosen at p (the prompt is positions 0-2): PULL x that token's embedding.
        const values = new Float32Array(count);
        for (let position = 0; position < 448; position++) {
          const token = sequence[position - FIRST_POSITION] ?? TOKEN_EOT;
          for (let i = 0; i < shape.nState; i++)
            values[position * shape.nState + i] = PULL * halfToFloat(embedding[token * shape.nState + i]!);
        }
        write(new Uint8Array(values.buffer));
      } else if (tensor.type === 1) {
        // Small enough that no block moves the residual stream much: what the decoder says stays the script.
        const values = new Uint16Array(count);
        fillHalf(values, random, -9);
        write(new Uint8Array(values.buffer));
      } else if (/ln(_post)?\.weight$/.test(name)) {
        write(new Uint8Array(new Float32Array(count).fill(1).buffer));
      } else if (name === 'encoder.positional_embedding') {
        const values = new Float32Array(count);
        for (let i = 0; i < count; i++) values[i] = ((random.next() / 0xffffffff) * 2 - 1) * 0.01;
        write(new Uint8Array(values.buffer));
      } else {
        write(new Uint8Array(count * 4)); // biases
      }
    }
  }
  closeSync(out);
  console.log(`${target}: ${which === 'tiny' ? 'tiny' : 'large-v3-turbo'} shapes, ${sequence.length} tokens per window`);
}

main();
