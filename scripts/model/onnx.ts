import protobuf from 'protobufjs';

/**
 * The part of onnx.proto (ONNX IR, field numbers from the published schema) that the converter reads:
 * graphs, nodes, attributes and tensors. Fields not declared here are skipped by the decoder, so the
 * schema stays small and nothing is fetched at install time.
 */
const schema = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            graph: { type: 'GraphProto', id: 7 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            type: { type: 'int32', id: 20 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4 },
            int32Data: { rule: 'repeated', type: 'int32', id: 5 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
          },
        },
      },
    },
  },
};

/** ONNX `TensorProto.DataType` values the converter meets. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7 } as const;

/** int64 fields arrive as `Long` (protobufjs uses long.js when present) or as plain numbers. */
type Int64 = number | { toNumber(): number };

export interface OnnxTensor {
  dims: Int64[];
  dataType: number;
  floatData: number[];
  int32Data: number[];
  name: string;
  rawData: Uint8Array;
}

export interface OnnxAttribute {
  name: string;
  f: number;
  i: Int64;
  s: Uint8Array;
  t?: OnnxTensor | null;
  g?: OnnxGraph | null;
}

export interface OnnxNode {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  attribute: OnnxAttribute[];
}

export interface OnnxGraph {
  name: string;
  node: OnnxNode[];
  initializer: OnnxTensor[];
}

export interface OnnxModel {
  producerName: string;
  graph: OnnxGraph;
}

const ModelProto = protobuf.Root.fromJSON(schema).lookupType('onnx.ModelProto');

/**
 * Decodes an ONNX model. Tensor bytes stay views into `bytes` (no copy), so the caller keeps the
 * file's buffer alive for as long as it reads weights.
 */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  return ModelProto.decode(bytes) as unknown as OnnxModel;
}

/** A protobuf int64 as a JS number (dims and attribute ints here are far below 2^53). */
export function toNumber(value: Int64): number {
  return typeof value === 'number' ? value : value.toNumber();
}

/** The tensor's shape as numbers. */
export function shapeOf(tensor: OnnxTensor): number[] {
  return tensor.dims.map(toNumber);
}

/** Finds a node's attribute by name, or throws naming the node: a missing one means a different export. */
export function attribute(node: OnnxNode, name: string): OnnxAttribute {
  const found = node.attribute.find((a) => a.name === name);
  if (!found) throw new Error(`ONNX node ${node.name} has no attribute ${name}`);
  return found;
}

/** The tensor's values as float32 (from `raw_data`, or `float_data` for small exports). */
export function floatValues(tensor: OnnxTensor): Float32Array {
  if (tensor.dataType !== DataType.FLOAT) throw new Error(`ONNX tensor ${tensor.name} is not float32`);
  if (tensor.rawData.length > 0) {
    // Copy: raw_data is a view at an arbitrary offset, and Float32Array needs 4-byte alignment.
    return new Float32Array(new Uint8Array(tensor.rawData).buffer);
  }
  return Float32Array.from(tensor.floatData);
}

/** An int8 or uint8 tensor's values as integers (`raw_data`, or `int32_data` for scalars). */
export function integerValues(tensor: OnnxTensor): Int8Array | Uint8Array | Int32Array {
  if (tensor.dataType !== DataType.INT8 && tensor.dataType !== DataType.UINT8) {
    throw new Error(`ONNX tensor ${tensor.name} is not 8-bit`);
  }
  const raw = tensor.rawData;
  if (raw.length > 0) {
    return tensor.dataType === DataType.INT8 ? new Int8Array(raw.buffer, raw.byteOffset, raw.length) : raw;
  }
  // int32_data holds the raw bit pattern of each 8-bit value.
  const ints = Int32Array.from(tensor.int32Data);
  if (tensor.dataType === DataType.INT8) for (let i = 0; i < ints.length; i++) ints[i] = (ints[i]! << 24) >> 24;
  return ints;
}

/** A one-element tensor's value. */
export function scalarValue(tensor: OnnxTensor): number {
  const values = tensor.dataType === DataType.FLOAT ? floatValues(tensor) : integerValues(tensor);
  if (values.length !== 1) throw new Error(`ONNX tensor ${tensor.name} is not a scalar`);
  return values[0]!;
}
