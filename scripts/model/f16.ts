/**
 * float32 -> IEEE half conversion with round-to-nearest-even, bit for bit what numpy's
 * `astype(float16)` gives, so the converted model is the same on every machine and Node version
 * (Node 20 has no Float16Array).
 */
export function f32BitsToF16(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = f & 0x7f800000;
  let sig = f & 0x007fffff;

  if (exp >= 0x47800000) {
    // Too large for half, or already inf/NaN; NaN keeps a non-zero payload.
    if (exp === 0x7f800000 && sig !== 0) {
      const payload = 0x7c00 + (sig >>> 13);
      return sign + (payload === 0x7c00 ? 0x7c01 : payload);
    }
    return sign + 0x7c00;
  }

  if (exp <= 0x38000000) {
    // Half subnormal or zero.
    if (exp < 0x33000000) return sign;
    const e = exp >>> 23;
    sig = (0x00800000 + sig) >>> (113 - e);
    // Round half to even; bits shifted out above also count as "more than half".
    if ((sig & 0x3fff) !== 0x1000 || (f & 0x7ff) !== 0) sig += 0x1000;
    return sign + (sig >>> 13);
  }

  const halfExp = (exp - 0x38000000) >>> 13;
  if ((sig & 0x3fff) !== 0x1000) sig += 0x1000;
  // A carry out of the significand bumps the exponent, up to inf: the correct result.
  return sign + ((halfExp + (sig >>> 13)) & 0xffff);
}

/**
 * Encodes float32 values as half floats in the machine's byte order; the converter refuses to run on
 * big-endian machines, so that is the little-endian order ggml files use.
 */
export function encodeF16(values: Float32Array): Uint8Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16(bits[i]!);
  return new Uint8Array(out.buffer);
}

/** float32 values as bytes in the machine's (little-endian, see encodeF16) order. */
export function encodeF32(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
