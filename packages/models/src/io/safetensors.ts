import * as tf from '@tensorflow/tfjs-core';

// Minimal safetensors codec (float32 and int32) for checkpoints and run directories.
// Format: 8-byte little-endian header length, JSON header, then the raw tensor bytes.

const DTYPES: Record<string, 'F32' | 'I32'> = { float32: 'F32', int32: 'I32' };

/** Serialises named tensors (read with dataSync; the tensors are not disposed). */
export function encodeTensors(tensors: Record<string, tf.Tensor>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const name of names) {
    const t = tensors[name]!;
    const dtype = DTYPES[t.dtype];
    if (!dtype)
      throw new Error(
        `safetensors: tensor '${name}' has dtype ${t.dtype}; expected float32 or int32`,
      );
    const data = t.dataSync() as Float32Array | Int32Array;
    const bytes = new Uint8Array(
      data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
    );
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    chunks.push(bytes);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Reads what `encodeTensors` wrote; the caller owns the returned tensors. */
export function decodeTensors(buffer: Uint8Array): Record<string, tf.Tensor> {
  if (buffer.length < 8) throw new Error('safetensors: file too short for a header');
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > buffer.length) throw new Error(`safetensors: header length ${n} exceeds the file`);
  const header = JSON.parse(new TextDecoder().decode(buffer.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + n;
  const out: Record<string, tf.Tensor> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [start, end] = entry.data_offsets;
    const bytes = new Uint8Array(end - start); // a copy: Node Buffers share one pool
    bytes.set(buffer.subarray(base + start, base + end));
    const data =
      entry.dtype === 'I32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
    out[name] = tf.tensor(data, entry.shape, entry.dtype === 'I32' ? 'int32' : 'float32');
  }
  return out;
}
