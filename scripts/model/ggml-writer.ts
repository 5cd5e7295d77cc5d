import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { encodeF16, encodeF32 } from './f16';
import type { WhisperTensor, WhisperWeights } from './whisper-onnx';

/** "ggml" as the little-endian int32 whisper.cpp checks first. */
export const GGML_MAGIC = 0x67676d6c;

/** ggml tensor types the legacy Whisper format uses. */
export const GgmlType = { F32: 0, F16: 1 } as const;

/** Header ftype: the large matrices are stored as f16. */
export const FTYPE_MOSTLY_F16 = 1;

/** What was written: the byte count and sha256 of the whole file. */
export interface WrittenModel {
  bytes: number;
  sha256: string;
}

/**
 * Writes Whisper weights as a ggml model in whisper.cpp's legacy layout (the one its
 * convert-pt-to-ggml.py produces): header, mel filters, vocabulary, then each tensor. Tensors are
 * encoded and written one piece at a time, so memory stays at the size of the largest piece.
 */
export async function writeGgmlModel(file: FileHandle, weights: WhisperWeights): Promise<WrittenModel> {
  const out = new HashingWriter(file);
  const h = weights.hparams;
  await out.write(
    int32s([
      GGML_MAGIC,
      h.nVocab,
      h.nAudioCtx,
      h.nAudioState,
      h.nAudioHead,
      h.nAudioLayer,
      h.nTextCtx,
      h.nTextState,
      h.nTextHead,
      h.nTextLayer,
      h.nMels,
      FTYPE_MOSTLY_F16,
    ]),
  );

  const mel = weights.melFilters;
  await out.write(int32s([mel.nMel, mel.nFft]));
  await out.write(encodeF32(mel.data));

  await out.write(int32s([weights.vocab.length]));
  const vocab = Buffer.concat(weights.vocab.flatMap((token) => [int32s([token.length]), token]));
  await out.write(vocab);

  for (const tensor of weights.tensors) await writeTensor(out, tensor);
  return { bytes: out.bytes, sha256: out.digest() };
}

/** f32 for vectors, biases and positional embeddings (small, and precision-sensitive); f16 otherwise. */
export function ggmlTypeOf(tensor: Pick<WhisperTensor, 'name' | 'shape'>): number {
  const keepF32 = tensor.shape.length < 2 || tensor.name.endsWith('.positional_embedding') || /^encoder\.conv\d\.bias$/.test(tensor.name);
  return keepF32 ? GgmlType.F32 : GgmlType.F16;
}

async function writeTensor(out: HashingWriter, tensor: WhisperTensor): Promise<void> {
  const type = ggmlTypeOf(tensor);
  const name = Buffer.from(tensor.name, 'utf8');
  // ggml lists dimensions innermost first: the reverse of PyTorch's order.
  await out.write(int32s([tensor.shape.length, name.length, type, ...[...tensor.shape].reverse()]));
  await out.write(name);
  const expected = tensor.shape.reduce((a, b) => a * b, 1);
  let written = 0;
  for (const piece of tensor.values()) {
    written += piece.length;
    await out.write(type === GgmlType.F16 ? encodeF16(piece) : encodeF32(piece));
  }
  if (written !== expected) throw new Error(`tensor ${tensor.name}: ${written} values for shape [${tensor.shape.join(',')}]`);
}

function int32s(values: number[]): Uint8Array {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeUInt32LE(v >>> 0, i * 4));
  return buf;
}

/** Sequential writes that keep a running sha256 and length, so the file is never read back. */
class HashingWriter {
  private readonly hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly file: FileHandle) {}

  async write(chunk: Uint8Array): Promise<void> {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.file.write(chunk, offset, chunk.length - offset);
      offset += bytesWritten;
    }
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}
