// Golden tests against tools/reference/core/io_reference.py (numpy + struct + json by hand).
// That script wrote io-reference.safetensors; it checks the io-attnkit*.safetensors files this
// spec compares our encoder with (`--check`). Rewrite those with ATTNKIT_UPDATE_IO_FIXTURES=1.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeSafetensors, encodeSafetensors } from '@attnkit/core';

const fixtures = path.join(__dirname, '../fixtures');
const read = (name: string) => new Uint8Array(fs.readFileSync(path.join(fixtures, name)));
const reference = JSON.parse(fs.readFileSync(path.join(fixtures, 'io-reference.json'), 'utf8')) as {
  tensors: Record<string, { dtype: string; shape: number[]; values: number[] }>;
  metadata: Record<string, string>;
  f16: { inputs: number[]; bits: number[] };
};
const TFJS_DTYPE: Record<string, string> = {
  F32: 'float32',
  F16: 'float32',
  BF16: 'float32',
  BOOL: 'bool',
};

/** Compares our bytes with a committed fixture, or rewrites it on request. */
function expectFixture(name: string, bytes: Uint8Array): void {
  if (process.env.ATTNKIT_UPDATE_IO_FIXTURES === '1')
    fs.writeFileSync(path.join(fixtures, name), bytes);
  expect(Buffer.from(bytes).equals(Buffer.from(read(name)))).toBe(true);
}

describe('safetensors golden files', () => {
  it('decodes the file numpy wrote: every dtype, unaligned offsets, UTF-8 names and metadata', () => {
    const { tensors, metadata } = decodeSafetensors(read('io-reference.safetensors'));
    expect(metadata).toEqual(reference.metadata);
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(reference.tensors).sort());
    for (const [name, want] of Object.entries(reference.tensors)) {
      const got = tensors[name]!;
      expect([name, got.dtype, got.shape]).toEqual([
        name,
        TFJS_DTYPE[want.dtype] ?? 'int32',
        want.shape,
      ]);
      expect(Array.from(got.dataSync())).toEqual(want.values);
    }
    tf.dispose(Object.values(tensors));
  });

  it('writes what the numpy reader checks, byte for byte (F32, I32, BOOL, metadata)', async () => {
    const { tensors, metadata } = decodeSafetensors(read('io-reference.safetensors'));
    expectFixture('io-attnkit.safetensors', await encodeSafetensors(tensors, metadata));
    tf.dispose(Object.values(tensors));
  });

  it('writes F16 bits equal to numpy float32 -> float16 casts', async () => {
    const probes = tf.tensor1d(reference.f16.inputs);
    const bytes = await encodeSafetensors({ probes }, undefined, { dtype: 'F16' });
    expectFixture('io-attnkit-f16.safetensors', bytes);
    const data = bytes.subarray(bytes.length - 2 * reference.f16.bits.length);
    const bits = Array.from(new Uint16Array(data.slice().buffer));
    expect(bits).toEqual(reference.f16.bits);
    probes.dispose();
  });
});
