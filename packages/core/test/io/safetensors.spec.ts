import * as tf from '@tensorflow/tfjs-core';
import {
  MAX_SAFETENSORS_HEADER_BYTES,
  Rng,
  SafetensorsError,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensorsHeader,
} from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { forge } from './forge';

const F32 = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

function randomTensor(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Array.from({ length: size }, () => rng.normal()),
    shape,
  );
}

describe('encodeSafetensors / decodeSafetensors', () => {
  it('round-trips float32, int32 and bool exactly, with shapes, scalars and empty tensors', async () => {
    const tensors = {
      'layers.0.weight': randomTensor([3, 4], 1),
      ids: tf.tensor1d([1, -2, 2147483647, -2147483648], 'int32'),
      mask: tf.tensor2d([true, false, false, true], [2, 2], 'bool'),
      empty: tf.zeros([0, 3]),
      scalar: tf.scalar(-2.5),
      'ünïcode ✓': tf.tensor1d([Infinity, -Infinity, NaN, -0]),
    };
    const bytes = await encodeSafetensors(tensors, { note: 'é' });
    const back = decodeSafetensors(bytes);
    expect(back.metadata).toEqual({ note: 'é' });
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const got = back.tensors[name]!;
      expect([name, got.dtype, got.shape]).toEqual([name, t.dtype, t.shape]);
      expect(Array.from(got.dataSync())).toEqual(Array.from(t.dataSync()));
    }
    expect(Object.is(back.tensors['ünïcode ✓']!.dataSync()[3], -0)).toBe(true);
    tf.dispose([...Object.values(tensors), ...Object.values(back.tensors)]);
  });

  it('writes float32 as F16 or BF16 on request, within their precision', async () => {
    const w = randomTensor([5, 7], 2);
    const ids = tf.tensor1d([3], 'int32');
    for (const [dtype, tol] of [
      ['F16', 1e-3],
      ['BF16', 8e-3],
    ] as const) {
      const bytes = await encodeSafetensors({ w, ids }, undefined, { dtype });
      const header = readSafetensorsHeader(bytes);
      expect(header.tensors.w!.dtype).toBe(dtype);
      expect(header.tensors.ids!.dtype).toBe('I32');
      const { tensors } = decodeSafetensors(bytes);
      expect(tensors.w!.dtype).toBe('float32');
      expectClose(tensors.w!, w, { atol: 1e-6, rtol: tol });
      tf.dispose(Object.values(tensors));
    }
    tf.dispose([w, ids]);
  });

  it('pads the header with spaces to 8 bytes and aligns every tensor to its item size', async () => {
    const tensors = {
      b: tf.tensor1d([true, false, true], 'bool'),
      f: tf.tensor1d([1, 2, 3]),
      i: tf.tensor1d([4], 'int32'),
    };
    const bytes = await encodeSafetensors(tensors, undefined, { dtype: 'F16' });
    const header = readSafetensorsHeader(bytes);
    expect(header.headerLength % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + header.headerLength));
    expect(text).toMatch(/^\{.*\} *$/);
    expect(header.metadata).toEqual({});
    expect(header.dataLength).toBe(3 + 6 + 4);
    expect(header.tensors.i!.dataOffsets).toEqual([0, 4]); // widest item first
    expect(header.tensors.f!.dataOffsets).toEqual([4, 10]);
    expect(header.tensors.b!.dataOffsets).toEqual([10, 13]);
    tf.dispose(Object.values(tensors));
  });

  it('decodes I64, I16, U16, I8, U8 to int32 and accepts unaligned offsets', () => {
    const data = new Uint8Array(1 + 16 + 2 + 2 + 2);
    const view = new DataView(data.buffer);
    data[0] = 200; // U8 at 0, which leaves the I64 at offset 1 (unaligned)
    view.setBigInt64(1, -5n, true);
    view.setBigInt64(9, 2n ** 31n - 1n, true);
    view.setInt16(17, -300, true);
    view.setUint16(19, 60000, true);
    data[21] = 0xff; // I8 -1
    data[22] = 0xff; // U8 255
    const bytes = forge(
      {
        u8: { dtype: 'U8', shape: [1], data_offsets: [0, 1] },
        i64: { dtype: 'I64', shape: [2], data_offsets: [1, 17] },
        i16: { dtype: 'I16', shape: [1], data_offsets: [17, 19] },
        u16: { dtype: 'U16', shape: [1], data_offsets: [19, 21] },
        i8: { dtype: 'I8', shape: [1], data_offsets: [21, 22] },
        u8b: { dtype: 'U8', shape: [1, 1], data_offsets: [22, 23] },
      },
      data,
    );
    const { tensors } = decodeSafetensors(bytes);
    const values = Object.fromEntries(
      Object.entries(tensors).map(([k, t]) => [k, [t.dtype, ...t.dataSync()]]),
    );
    expect(values).toEqual({
      u8: ['int32', 200],
      i64: ['int32', -5, 2 ** 31 - 1],
      i16: ['int32', -300],
      u16: ['int32', 60000],
      i8: ['int32', -1],
      u8b: ['int32', 255],
    });
    tf.dispose(Object.values(tensors));
  });

  it('reads a Node Buffer that is a view into a larger pool', async () => {
    const t = tf.tensor1d([1.5, 2.5]);
    const bytes = await encodeSafetensors({ t });
    const pool = new Uint8Array(bytes.length + 3);
    pool.set(bytes, 3);
    const { tensors } = decodeSafetensors(pool.subarray(3));
    expect(Array.from(tensors.t!.dataSync())).toEqual([1.5, 2.5]);
    const buffer = Buffer.concat([Buffer.from('xyz'), Buffer.from(bytes)]).subarray(3);
    const fromBuffer = decodeSafetensors(buffer).tensors.t!;
    expect([fromBuffer.shape, Array.from(fromBuffer.dataSync())]).toEqual([[2], [1.5, 2.5]]);
    tf.dispose([t, tensors.t!, fromBuffer]);
  });

  it('names the problem in every refusal', () => {
    const cases: [Uint8Array, string][] = [
      [new Uint8Array(5), 'file size expected at least 8 bytes (the header length), got 5 bytes'],
      [
        forge({ w: F32 }, 8, MAX_SAFETENSORS_HEADER_BYTES + 1),
        'header length expected at most 100000000 bytes, got 100000001 bytes',
      ],
      [forge({ w: F32 }, 8, 2 ** 40), 'header length expected at most 100000000 bytes'],
      [
        forge('{}', 0, 3),
        'header length expected at most 2 bytes (what follows the length in the file), got 3 bytes',
      ],
      [forge('{"w": ', 8), 'header expected a JSON object, got invalid JSON'],
      [forge('[1,2]'), 'header expected a JSON object, got [1,2]'],
      [forge(Uint8Array.of(0x7b, 0xff, 0x7d)), 'header expected valid UTF-8'],
      [forge({ w: [1] }, 8), "tensor 'w' expected an object {dtype, shape, data_offsets}, got [1]"],
      [
        forge({ w: { ...F32, dtype: 'F64' } }, 8),
        'tensor \'w\' dtype expected one of F32, F16, BF16, I64, I32, I16, U16, I8, U8, BOOL, got "F64"',
      ],
      [forge({ w: { ...F32, dtype: undefined } }, 8), "tensor 'w' dtype expected one of"],
      [
        forge({ w: { ...F32, shape: [-2] } }, 8),
        "tensor 'w' shape expected an array of non-negative integers, got [-2]",
      ],
      [
        forge({ w: { ...F32, shape: [1.5] } }, 8),
        'shape expected an array of non-negative integers',
      ],
      [forge({ w: { ...F32, shape: '2' } }, 8), 'shape expected an array of non-negative integers'],
      [
        forge({ w: { ...F32, data_offsets: [0] } }, 8),
        "tensor 'w' data_offsets expected two non-negative integers [begin, end], got [0]",
      ],
      [
        forge({ w: { ...F32, data_offsets: [0, 8.5] } }, 8),
        'data_offsets expected two non-negative integers',
      ],
      [
        forge({ w: { ...F32, data_offsets: [0, 2 ** 60] } }, 8),
        'data_offsets expected two non-negative integers',
      ],
      [
        forge({ w: { ...F32, data_offsets: [0, 16] } }, 8),
        "tensor 'w' data_offsets expected 0 <= begin <= end <= 8 (the data buffer size), got [0, 16]",
      ],
      [forge({ w: { ...F32, data_offsets: [8, 0] } }, 8), 'expected 0 <= begin <= end'],
      [
        forge({ w: { ...F32, shape: [3] } }, 8),
        "tensor 'w' data_offsets expected 12 bytes (shape [3] of 4-byte F32), got 8 bytes [0, 8]",
      ],
      [
        forge({ w: { ...F32, shape: [2 ** 40, 2 ** 40] } }, 8),
        'shape expected a shape whose byte size fits in 2^53 (what a file can hold), got [1099511627776,1099511627776] of 4-byte F32, a byte size that overflows',
      ],
      [
        forge({ w: F32, v: { ...F32, data_offsets: [4, 12] } }, 12),
        "tensor 'v' data_offsets expected to start at or after byte 8 (the end of 'w'), got [4, 12], overlapping 'w'",
      ],
      [
        forge({ w: { ...F32, data_offsets: [4, 12] } }, 12),
        "tensor 'w' data_offsets expected to start at byte 0 (no gap in the data buffer), got [4, 12], a gap of 4 bytes",
      ],
      [
        forge({ w: F32 }, 12),
        'data buffer expected 12 bytes, all covered by tensors, got 8 bytes covered, 4 bytes unaccounted for',
      ],
      [forge({}, 3), 'data buffer expected 3 bytes, all covered by tensors, got 0 bytes covered'],
      [
        forge({ w: { ...F32, extra: 1 } }, 8),
        "tensor 'w' expected only dtype, shape and data_offsets, got unknown field 'extra'",
      ],
      [forge({ __metadata__: { a: 1 } }), "__metadata__ 'a' expected a string, got 1"],
      [forge({ __metadata__: 'x' }), '__metadata__ expected an object of strings, got "x"'],
    ];
    for (const [bytes, message] of cases) {
      let error: unknown;
      try {
        decodeSafetensors(bytes);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SafetensorsError);
      expect((error as Error).message).toContain(message);
    }
  });

  it('refuses values the target dtype cannot hold, before allocating anything', () => {
    const data = new Uint8Array(12);
    new DataView(data.buffer).setBigInt64(0, 2n ** 40n, true);
    const big = forge(
      {
        f: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
        big: { dtype: 'I64', shape: [1], data_offsets: [0, 8] },
      },
      data,
    );
    const before = tf.memory().numTensors;
    expect(() => decodeSafetensors(big)).toThrow(
      "safetensors: tensor 'big' element 0 expected values that fit in int32, got 1099511627776",
    );
    const bool = forge(
      { b: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } },
      Uint8Array.of(1, 7),
    );
    expect(() => decodeSafetensors(bool)).toThrow(
      "tensor 'b' element 1 expected bytes 0 or 1, got 7",
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses what it cannot encode', async () => {
    const ok = tf.ones([1]);
    const disposed = tf.ones([1]);
    disposed.dispose();
    const text = tf.tensor(['a']);
    await expect(encodeSafetensors({ c: text })).rejects.toThrow(
      "encodeSafetensors: tensor 'c' dtype expected float32, int32 or bool, got string",
    );
    await expect(encodeSafetensors({ __metadata__: ok })).rejects.toThrow(SafetensorsError);
    await expect(encodeSafetensors({ d: disposed })).rejects.toThrow('expected a live tensor');
    await expect(encodeSafetensors({ x: [1, 2] as unknown as tf.Tensor })).rejects.toThrow(
      "tensor 'x' expected a tf.Tensor, got [1,2]",
    );
    await expect(encodeSafetensors({ ok }, { n: 3 as unknown as string })).rejects.toThrow(
      "metadata 'n' expected a string, got 3",
    );
    await expect(
      encodeSafetensors({ ok }, undefined, { dtype: 'F64' as unknown as 'F32' }),
    ).rejects.toThrow('options.dtype expected one of F32, F16, BF16, got "F64"');
    expect(() => decodeSafetensors([1, 2] as unknown as Uint8Array)).toThrow(
      'input expected a Uint8Array',
    );
    tf.dispose([ok, text]);
  });

  it('leaks nothing: encode, decode and dispose', async () => {
    const t = randomTensor([4, 4], 3);
    const m = tf.tensor1d([true, false], 'bool');
    await expectNoLeaks(async () => {
      const { tensors } = decodeSafetensors(
        await encodeSafetensors({ t, m }, undefined, { dtype: 'F16' }),
      );
      tf.dispose(Object.values(tensors));
    });
    tf.dispose([t, m]);
  });
});
