import {
  attribute,
  decodeModel,
  floatValues,
  integerValues,
  scalarValue,
  shapeOf,
  toNumber,
  type OnnxGraph,
  type OnnxNode,
  type OnnxTensor,
} from './onnx';

/** Whisper's dimensions, in the order whisper.cpp's ggml header stores them. */
export interface WhisperHparams {
  nVocab: number;
  nAudioCtx: number;
  nAudioState: number;
  nAudioHead: number;
  nAudioLayer: number;
  nTextCtx: number;
  nTextState: number;
  nTextHead: number;
  nTextLayer: number;
  nMels: number;
}

/** One weight under its OpenAI checkpoint name; values are produced on demand, piece by piece. */
export interface WhisperTensor {
  name: string;
  /** PyTorch order, outermost dimension first. */
  shape: number[];
  /** Row-major float32 values, in one or more consecutive pieces. */
  values(): Iterable<Float32Array>;
}

/** Everything a ggml model file needs, read from the ONNX export. */
export interface WhisperWeights {
  hparams: WhisperHparams;
  melFilters: { nMel: number; nFft: number; data: Float32Array };
  /** Token bytes by id, ordinary tokens only (the specials come after them). */
  vocab: Uint8Array[];
  tensors: WhisperTensor[];
}

/**
 * Reads the weights of a Whisper ONNX export made by onnxruntime's Whisper beam-search tooling with
 * int8 dynamic quantization: a `BeamSearch` node whose `encoder` subgraph computes the encoder and
 * the first decoder step, so it references every weight. Quantized matrices are dequantized and
 * fused attention projections split back into Whisper's separate query, key and value.
 */
export function readWhisperOnnx(bytes: Uint8Array): WhisperWeights {
  const top = decodeModel(bytes).graph;
  const beamSearch = findNode(top, (n) => n.opType === 'BeamSearch', 'BeamSearch');
  const graph = attribute(beamSearch, 'encoder').g;
  if (!graph) throw new Error('BeamSearch has no encoder subgraph');
  const weights = new WeightIndex([top, graph]);

  const selfAttention = new Map<string, OnnxNode>();
  const crossAttention = new Map<number, OnnxNode>();
  const matmuls = new Map<string, OnnxNode>();
  for (const node of graph.node) {
    if (node.opType === 'Attention') {
      const at = /\/(encoder|decoder)\/layers\.(\d+)\/self_attn_layer_norm\//.exec(node.input[0] ?? '');
      if (at) selfAttention.set(`${at[1]}.${at[2]}`, node);
    } else if (node.opType === 'MultiHeadAttention') {
      const at = /\/decoder\/layers\.(\d+)\/encoder_attn\/q_proj\//.exec(node.input[0] ?? '');
      if (at) crossAttention.set(Number(at[1]), node);
    } else if (node.opType === 'MatMulInteger') {
      const at = /\/((?:encoder|decoder)\/layers\.\d+\/[\w.]+(?:\/\w+)?)\/MatMul_quant$/.exec(node.name);
      if (at) matmuls.set(at[1]!.replace(/\//g, '.'), node);
    }
  }

  const quantized = (path: string): Float32Array => {
    const node = matmuls.get(path);
    if (!node) throw new Error(`no quantized MatMul for ${path}`);
    const scales = findNode(graph, (n) => n.name === `${node.name}_scales_mul`, `${node.name}_scales_mul`);
    const scale = scalarValue(weights.get(scales.input[1]!));
    const zeroPoint = node.input[3] ? scalarValue(weights.get(node.input[3])) : 0;
    const q = weights.get(node.input[1]!);
    const [rows, cols] = shapeOf(q) as [number, number];
    // Stored [in, out] for x @ W; whisper.cpp wants nn.Linear's [out, in].
    return transpose(dequantize(integerValues(q), zeroPoint, scale), rows, cols);
  };

  const hf = (name: string): Float32Array => floatValues(weights.hf(name));
  const encPos = weights.hf('encoder.embed_positions.weight');
  const decPos = weights.hf('decoder.embed_positions.weight');
  const conv1 = weights.hf('encoder.conv1.weight');
  const embed = weights.hf('decoder.embed_tokens.weight_quantized');
  const [nAudioCtx, nAudioState] = shapeOf(encPos) as [number, number];
  const [nTextCtx, nTextState] = shapeOf(decPos) as [number, number];
  const [nVocab] = shapeOf(embed) as [number];
  const nMels = shapeOf(conv1)[1]!;
  const count = (side: string) => [...selfAttention.keys()].filter((k) => k.startsWith(`${side}.`)).length;
  const heads = (side: string) => toNumber(attribute(selfAttention.get(`${side}.0`)!, 'num_heads').i);
  const hparams: WhisperHparams = {
    nVocab,
    nAudioCtx,
    nAudioState,
    nAudioHead: heads('encoder'),
    nAudioLayer: count('encoder'),
    nTextCtx,
    nTextState,
    nTextHead: heads('decoder'),
    nTextLayer: count('decoder'),
    nMels,
  };

  const tensors: WhisperTensor[] = [];
  const add = (name: string, shape: number[], values: () => Float32Array) => tensors.push({ name, shape, values: () => [values()] });
  const vector = (name: string, hfName: string) => {
    const t = weights.hf(hfName);
    add(name, shapeOf(t), () => floatValues(t));
  };
  const linear = (prefix: string, path: string, hfBias: string | null, d: number, dIn = d) => {
    add(`${prefix}.weight`, [d, dIn], () => quantized(path));
    if (hfBias) vector(`${prefix}.bias`, hfBias);
  };
  const norm = (name: string, hfName: string) => {
    vector(`${name}.weight`, `${hfName}.weight`);
    vector(`${name}.bias`, `${hfName}.bias`);
  };
  const packedSelfAttention = (prefix: string, key: string, d: number) => {
    const node = selfAttention.get(key)!;
    const w = () => floatValues(weights.get(node.input[1]!));
    const b = () => floatValues(weights.get(node.input[2]!));
    // Packed [d, 3d] as Q|K|V columns; Whisper's key projection has no bias.
    add(`${prefix}.query.weight`, [d, d], () => transpose(w(), d, 3 * d, 0, d));
    add(`${prefix}.query.bias`, [d], () => b().slice(0, d));
    add(`${prefix}.key.weight`, [d, d], () => transpose(w(), d, 3 * d, d, d));
    add(`${prefix}.value.weight`, [d, d], () => transpose(w(), d, 3 * d, 2 * d, d));
    add(`${prefix}.value.bias`, [d], () => b().slice(2 * d, 3 * d));
  };
  const mlp = (prefix: string, hfPrefix: string, d: number) => {
    linear(`${prefix}.mlp.0`, `${hfPrefix}.fc1`, `${hfPrefix}.fc1.bias`, 4 * d, d);
    linear(`${prefix}.mlp.2`, `${hfPrefix}.fc2`, `${hfPrefix}.fc2.bias`, d, 4 * d);
    norm(`${prefix}.mlp_ln`, `${hfPrefix}.final_layer_norm`);
  };

  add('encoder.positional_embedding', shapeOf(encPos), () => floatValues(encPos));
  for (const n of [1, 2]) {
    const w = weights.hf(`encoder.conv${n}.weight`);
    add(`encoder.conv${n}.weight`, shapeOf(w), () => floatValues(w));
    // whisper.cpp adds the bias as a [n_state, 1] column over the time axis.
    add(`encoder.conv${n}.bias`, [nAudioState, 1], () => hf(`encoder.conv${n}.bias`));
  }
  for (let i = 0; i < hparams.nAudioLayer; i++) {
    const d = nAudioState;
    const prefix = `encoder.blocks.${i}`;
    const hfPrefix = `encoder.layers.${i}`;
    packedSelfAttention(`${prefix}.attn`, `encoder.${i}`, d);
    linear(`${prefix}.attn.out`, `${hfPrefix}.self_attn.out_proj`, `${hfPrefix}.self_attn.out_proj.bias`, d);
    norm(`${prefix}.attn_ln`, `${hfPrefix}.self_attn_layer_norm`);
    mlp(prefix, hfPrefix, d);
  }
  norm('encoder.ln_post', 'encoder.layer_norm');

  add('decoder.positional_embedding', shapeOf(decPos), () => floatValues(decPos));
  tensors.push({ name: 'decoder.token_embedding.weight', shape: shapeOf(embed), values: () => embeddingRows(weights, embed) });
  for (let i = 0; i < hparams.nTextLayer; i++) {
    const d = nTextState;
    const prefix = `decoder.blocks.${i}`;
    const hfPrefix = `decoder.layers.${i}`;
    packedSelfAttention(`${prefix}.attn`, `decoder.${i}`, d);
    linear(`${prefix}.attn.out`, `${hfPrefix}.self_attn.out_proj`, `${hfPrefix}.self_attn.out_proj.bias`, d);
    norm(`${prefix}.attn_ln`, `${hfPrefix}.self_attn_layer_norm`);
    const cross = crossAttention.get(i);
    if (!cross) throw new Error(`no cross-attention node for decoder layer ${i}`);
    const bias = () => floatValues(weights.get(cross.input[3]!));
    linear(`${prefix}.cross_attn.query`, `${hfPrefix}.encoder_attn.q_proj`, null, d);
    add(`${prefix}.cross_attn.query.bias`, [d], () => bias().slice(0, d));
    linear(`${prefix}.cross_attn.key`, `${hfPrefix}.encoder_attn.k_proj`, null, d);
    linear(`${prefix}.cross_attn.value`, `${hfPrefix}.encoder_attn.v_proj`, null, d);
    add(`${prefix}.cross_attn.value.bias`, [d], () => bias().slice(2 * d, 3 * d));
    linear(`${prefix}.cross_attn.out`, `${hfPrefix}.encoder_attn.out_proj`, `${hfPrefix}.encoder_attn.out_proj.bias`, d);
    norm(`${prefix}.cross_attn_ln`, `${hfPrefix}.encoder_attn_layer_norm`);
    mlp(prefix, hfPrefix, d);
  }
  norm('decoder.ln', 'decoder.layer_norm');

  const filters = findNode(top, (n) => n.opType === 'Constant' && n.output[0] === '/Constant_8_output_0', 'mel filters');
  const melTensor = attribute(filters, 'value').t;
  if (!melTensor) throw new Error('mel filter constant has no tensor');
  const [nMel, nFft] = shapeOf(melTensor) as [number, number];
  if (nMel !== nMels) throw new Error(`mel filters have ${nMel} bands, the encoder expects ${nMels}`);

  return {
    hparams,
    melFilters: { nMel, nFft, data: floatValues(melTensor) },
    vocab: readVocab(findNode(top, (n) => n.opType === 'BpeDecoder', 'BpeDecoder')),
    tensors,
  };
}

/** Initializers by name across the graphs, and full-precision weights by their Hugging Face name. */
class WeightIndex {
  private readonly byName = new Map<string, OnnxTensor>();
  private readonly byHfName = new Map<string, OnnxTensor>();

  constructor(graphs: OnnxGraph[]) {
    for (const graph of graphs) {
      for (const t of graph.initializer) {
        this.byName.set(t.name, t);
        // Subgraph names carry prefixes (`e_`, `s_e_`) and the export's module path before the HF name.
        const at = t.name.indexOf('encoder.model.');
        if (at >= 0) this.byHfName.set(t.name.slice(at + 'encoder.model.'.length), t);
      }
    }
  }

  get(name: string): OnnxTensor {
    const t = this.byName.get(name);
    if (!t) throw new Error(`ONNX initializer ${name} not found`);
    return t;
  }

  hf(name: string): OnnxTensor {
    const t = this.byHfName.get(name);
    if (!t) throw new Error(`ONNX weight ${name} not found`);
    return t;
  }
}

function findNode(graph: OnnxGraph, match: (n: OnnxNode) => boolean, what: string): OnnxNode {
  const node = graph.node.find(match);
  if (!node) throw new Error(`ONNX graph ${graph.name} has no ${what} node`);
  return node;
}

function dequantize(q: ArrayLike<number>, zeroPoint: number, scale: number): Float32Array {
  const out = new Float32Array(q.length);
  // float32 product, as the quantizer defined it: (q - zero_point) * scale.
  for (let i = 0; i < q.length; i++) out[i] = (q[i]! - zeroPoint) * scale;
  return out;
}

/** Transposes columns [from, from + count) of a rows x cols matrix into a count x rows matrix. */
function transpose(m: Float32Array, rows: number, cols: number, from = 0, count = cols): Float32Array {
  const out = new Float32Array(rows * count);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < count; c++) out[c * rows + r] = m[r * cols + from + c]!;
  }
  return out;
}

/** The token embedding is the largest tensor (20M values): dequantized in slices to bound memory. */
function* embeddingRows(weights: WeightIndex, quantized: OnnxTensor): Iterable<Float32Array> {
  const scale = scalarValue(weights.hf('decoder.embed_tokens.weight_scale'));
  const zeroPoint = scalarValue(weights.hf('decoder.embed_tokens.weight_zero_point'));
  const q = integerValues(quantized);
  const [rows, cols] = shapeOf(quantized) as [number, number];
  const step = 4096;
  for (let r = 0; r < rows; r += step) {
    const end = Math.min(rows, r + step);
    yield dequantize(q.subarray(r * cols, end * cols), zeroPoint, scale);
  }
}

/**
 * The BPE vocabulary as bytes: `id_vocab` lists tokens one per line in GPT-2's byte-to-unicode
 * spelling, and `byte_decoder` maps each of those code points back to its byte.
 */
function readVocab(bpe: OnnxNode): Uint8Array[] {
  const text = (name: string) => Buffer.from(attribute(bpe, name).s).toString('utf8');
  const byteOf = new Map<number, number>();
  for (const line of text('byte_decoder').split('\n')) {
    const [codePoint, byte] = line.split('\t').map(Number);
    if (codePoint !== undefined && byte !== undefined) byteOf.set(codePoint, byte);
  }
  const firstSpecial = Math.min(
    ...text('added_tokens')
      .split('\n')
      .map((line) => Number(line.split('\t')[0])),
  );
  return text('id_vocab')
    .split('\n')
    .slice(0, firstSpecial)
    .map((token) =>
      Uint8Array.from(
        [...token].map((ch) => {
          const byte = byteOf.get(ch.codePointAt(0)!);
          if (byte === undefined) throw new Error(`token ${JSON.stringify(token)} has a character outside the byte map`);
          return byte;
        }),
      ),
    );
}
