import { mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { f32BitsToF16 } from '../scripts/model/f16';
import { EXPECTED_MODEL, MODEL_FILE, prepareModel, type PreparedModel } from '../scripts/prepare-model';

/** Reads a ggml Whisper file the way whisper.cpp's loader walks it. */
function parseGgml(buf: Buffer) {
  let at = 0;
  const i32 = () => {
    const v = buf.readInt32LE(at);
    at += 4;
    return v;
  };
  const header = Array.from({ length: 12 }, i32);
  const nMel = i32();
  const nFft = i32();
  at += nMel * nFft * 4;
  const nTokens = i32();
  const tokens: string[] = [];
  for (let i = 0; i < nTokens; i++) {
    const len = i32();
    tokens.push(buf.toString('utf8', at, at + len));
    at += len;
  }
  const tensors = new Map<string, { dims: number[]; type: number }>();
  while (at < buf.length) {
    const nDims = i32();
    const nameLength = i32();
    const type = i32();
    const dims = Array.from({ length: nDims }, i32);
    const name = buf.toString('utf8', at, at + nameLength);
    at += nameLength;
    at += dims.reduce((a, b) => a * b, 1) * (type === 1 ? 2 : 4);
    tensors.set(name, { dims, type });
  }
  return { header, nMel, nFft, tokens, tensors, end: at };
}

describe('prepareModel', () => {
  let dir: string;
  let first: PreparedModel;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'models-'));
    first = await prepareModel({ modelsDir: dir });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the pinned tiny.en model', async () => {
    expect(first.skipped).toBe(false);
    expect(first.path).toBe(join(dir, MODEL_FILE));
    expect(first.bytes).toBe(EXPECTED_MODEL.bytes);
    expect(first.sha256).toBe(EXPECTED_MODEL.sha256);
    expect((await stat(first.path)).size).toBe(EXPECTED_MODEL.bytes);
    expect(await readdir(dir)).toEqual([MODEL_FILE]);
  });

  it('has the header, vocabulary and tensors whisper.cpp loads as a tiny English model', async () => {
    const model = parseGgml(await readFile(first.path));
    const [magic, nVocab, audioCtx, audioState, audioHead, audioLayer, textCtx, textState, textHead, textLayer, nMels, ftype] =
      model.header;
    expect(magic).toBe(0x67676d6c);
    expect({ nVocab, audioCtx, audioState, audioHead, audioLayer, textCtx, textState, textHead, textLayer, nMels, ftype }).toEqual({
      nVocab: 51864,
      audioCtx: 1500,
      audioState: 384,
      audioHead: 6,
      audioLayer: 4,
      textCtx: 448,
      textState: 384,
      textHead: 6,
      textLayer: 4,
      nMels: 80,
      ftype: 1,
    });
    expect([model.nMel, model.nFft]).toEqual([80, 201]);

    // GPT-2's byte-level BPE, decoded back to bytes: ids below 50256, specials are whisper.cpp's to add.
    expect(model.tokens).toHaveLength(50256);
    expect(model.tokens[0]).toBe('!');
    expect(model.tokens[262]).toBe(' the');
    expect(model.tokens[198]).toBe('\n');

    // Every tensor whisper.cpp expects for 4 + 4 layers, nothing else, and the file ends after the last.
    expect(model.end).toBe(EXPECTED_MODEL.bytes);
    expect(model.tensors.size).toBe(7 + 15 * 4 + 4 + 24 * 4);
    expect(model.tensors.get('encoder.conv1.weight')).toEqual({ dims: [3, 80, 384], type: 1 });
    expect(model.tensors.get('encoder.conv1.bias')).toEqual({ dims: [1, 384], type: 0 });
    expect(model.tensors.get('encoder.positional_embedding')).toEqual({ dims: [384, 1500], type: 0 });
    expect(model.tensors.get('encoder.blocks.3.attn.query.weight')).toEqual({ dims: [384, 384], type: 1 });
    expect(model.tensors.get('encoder.blocks.0.mlp.0.weight')).toEqual({ dims: [384, 1536], type: 1 });
    expect(model.tensors.get('encoder.blocks.0.mlp.2.weight')).toEqual({ dims: [1536, 384], type: 1 });
    expect(model.tensors.get('decoder.token_embedding.weight')).toEqual({ dims: [384, 51864], type: 1 });
    expect(model.tensors.get('decoder.positional_embedding')).toEqual({ dims: [384, 448], type: 0 });
    expect(model.tensors.get('decoder.blocks.2.cross_attn.value.bias')).toEqual({ dims: [384], type: 0 });
    expect(model.tensors.get('decoder.ln.weight')).toEqual({ dims: [384], type: 0 });
    // Whisper's key projections have no bias.
    expect(model.tensors.has('decoder.blocks.0.cross_attn.key.bias')).toBe(false);
  });

  it('leaves a verified model alone on the next run', async () => {
    const before = await stat(first.path);
    const again = await prepareModel({ modelsDir: dir });
    expect(again).toEqual({ ...first, skipped: true });
    expect((await stat(first.path)).mtimeMs).toBe(before.mtimeMs);
  });

  it('replaces a corrupted model with a good one', async () => {
    const file = await open(first.path, 'r+');
    await file.write(Buffer.alloc(4096, 0xab), 0, 4096, 40_000_000);
    await file.close();

    const lines: string[] = [];
    const repaired = await prepareModel({ modelsDir: dir, log: (line) => lines.push(line) });
    expect(repaired.skipped).toBe(false);
    expect(repaired.sha256).toBe(EXPECTED_MODEL.sha256);
    expect(lines.join('\n')).toMatch(/does not match/);
    expect(await readdir(dir)).toEqual([MODEL_FILE]);
  });

  it('replaces a truncated model', async () => {
    await writeFile(first.path, Buffer.from('ggml'));
    const repaired = await prepareModel({ modelsDir: dir });
    expect(repaired.skipped).toBe(false);
    expect((await stat(first.path)).size).toBe(EXPECTED_MODEL.bytes);
  });
});

describe('f32BitsToF16', () => {
  const bitsOf = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0]!;
  const cases: [string, number, number][] = [
    ['one', 1, 0x3c00],
    ['minus two', -2, 0xc000],
    ['largest half', 65504, 0x7bff],
    ['rounds up to infinity', 65520, 0x7c00],
    ['smallest subnormal', 2 ** -24, 0x0001],
    ['half of the smallest subnormal ties to even zero', 2 ** -25, 0x0000],
    ['a tie rounds to even (down)', 1 + 2 ** -11, 0x3c00],
    ['a tie rounds to even (up)', 1 + 3 * 2 ** -11, 0x3c02],
    ['infinity', Infinity, 0x7c00],
  ];
  it.each(cases)('%s', (_, value, expected) => {
    expect(f32BitsToF16(bitsOf(value))).toBe(expected);
  });

  it('keeps NaN a NaN', () => {
    const half = f32BitsToF16(bitsOf(NaN));
    expect(half & 0x7c00).toBe(0x7c00);
    expect(half & 0x03ff).not.toBe(0);
  });
});
