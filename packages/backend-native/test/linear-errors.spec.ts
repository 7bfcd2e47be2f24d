// Bad input to the linear kernels gives a typed one-line error and never a crash: through the
// ops (ShapeError / ConfigError from @attnkit/attention's checks, before any dispatch), through
// runKernel (TypeError for shapes and dtypes, RangeError for attribute values) and through the
// addon itself (every array checked against the dims before any read or write).
import * as tf from '@tensorflow/tfjs-core';
import { linearAttention, linearRecurrence } from '@attnkit/attention';
import { ConfigError, ShapeError } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';
import { loadAddon } from '../src/addon';
import { CHUNKED_LINEAR_ATTENTION, LINEAR_SCAN } from '../src/index';
import { useNativeBackend } from './helpers';

const f32 = (n: number) => new Float32Array(n);

/** 'Name: message' of what f throws: the addon's errors come from another realm than jest's. */
function thrown(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
  return 'nothing';
}

describe('linear kernels on bad input', () => {
  useNativeBackend();

  it('the ops refuse bad shapes and options with typed errors, leaking nothing', async () => {
    const q = tf.ones([1, 2, 5, 3]) as tf.Tensor4D;
    const v = tf.ones([1, 2, 5, 2]) as tf.Tensor4D;
    const cases: Array<[() => unknown, typeof ShapeError | typeof ConfigError]> = [
      [() => linearAttention(tf.ones([2, 5, 3]) as tf.Tensor as tf.Tensor4D, q, v), ShapeError],
      [() => linearAttention(q, tf.ones([1, 2, 4, 3]) as tf.Tensor4D, v), ShapeError],
      [() => linearAttention(q, q, tf.ones([1, 2, 5]) as tf.Tensor as tf.Tensor4D), ShapeError],
      [() => linearAttention(q, q, v, { chunkSize: 0 }), ConfigError],
      [() => linearAttention(q, q, v, { chunkSize: NaN }), ConfigError],
      [() => linearAttention(q, q, v, { gate: tf.zeros([1, 2, 4]) }), ShapeError],
      [() => linearAttention(q, q, v, { scale: NaN }), ConfigError],
      [() => linearRecurrence(tf.ones([1, 4, 3]), tf.ones([1, 5, 3])), ShapeError],
      [
        () => linearRecurrence(tf.ones([1, 5, 3]), tf.ones([1, 5, 3]), { chunkSize: NaN }),
        ConfigError,
      ],
      [
        () =>
          linearRecurrence(tf.ones([1, 5, 3]), tf.ones([1, 5, 3]), { initialState: tf.ones([3]) }),
        ShapeError,
      ],
    ];
    for (const [call, type] of cases) {
      await expectNoLeaks(() => expect(() => tf.tidy(() => void call())).toThrow(type));
    }
    tf.dispose([q, v]);
  });

  it('the kernels refuse bad inputs and attributes called directly', () => {
    const x = (shape: number[]) => tf.zeros(shape);
    const good = () => ({
      q: x([1, 2, 5, 3]),
      k: x([1, 2, 5, 3]),
      v: x([1, 2, 5, 2]),
      logDecay: x([1, 2, 5]),
      kv0: x([1, 2, 3, 2]),
      kSum0: x([1, 2, 3]),
    });
    const attrs = { chunkSize: 2, scale: 1, causal: true, normalize: false, eps: 1e-6 };
    const call = (inputs: object, a: object = attrs) =>
      tf.tidy(
        () => void tf.engine().runKernel(CHUNKED_LINEAR_ATTENTION, inputs as never, a as never),
      );
    expect(() => call(good())).not.toThrow();
    expect(() => call({ ...good(), q: x([2, 5, 3]) })).toThrow(TypeError);
    expect(() => call({ ...good(), k: x([1, 2, 5, 4]) })).toThrow(TypeError);
    expect(() => call({ ...good(), v: x([1, 2, 4, 2]) })).toThrow(TypeError);
    expect(() => call({ ...good(), logDecay: x([1, 2, 5, 3]) })).toThrow(TypeError);
    expect(() => call({ ...good(), kv0: x([1, 2, 2, 3]) })).toThrow(TypeError);
    expect(() => call({ ...good(), kSum0: undefined })).toThrow(TypeError);
    expect(() => call({ ...good(), q: tf.zeros([1, 2, 5, 3], 'int32') })).toThrow(TypeError);
    for (const chunkSize of [0, -1, 1.5, NaN, Infinity]) {
      expect(() => call(good(), { ...attrs, chunkSize })).toThrow(RangeError);
    }
    expect(() => call(good(), { ...attrs, scale: NaN })).toThrow(RangeError);
    expect(() => call(good(), { ...attrs, eps: -1 })).toThrow(RangeError);
    // The bidirectional form has no decay: the addon refuses a nonzero one.
    expect(() =>
      call({ ...good(), logDecay: tf.fill([1, 2, 5], -0.5) }, { ...attrs, causal: false }),
    ).toThrow(/no decay/);
    const scan = (inputs: object) =>
      tf.tidy(() => void tf.engine().runKernel(LINEAR_SCAN, inputs as never, {}));
    expect(() => scan({ a: x([2, 3, 4]), b: x([2, 3, 4]), h0: x([2, 4]) })).not.toThrow();
    expect(() => scan({ a: x([2, 3, 1]), b: x([2, 3, 4]), h0: x([2, 4]) })).toThrow(TypeError);
    expect(() => scan({ a: x([2, 3, 4]), b: x([2, 3, 4]), h0: x([2, 3]) })).toThrow(TypeError);
    expect(() => scan({ a: x([2]), b: x([2]), h0: x([2]) })).toThrow(TypeError);
  });

  it('the addon checks every array against the dims before touching it', () => {
    const addon = loadAddon();
    const dims = (d: number[]) => Int32Array.from(d);
    const fwd = addon.linearAttentionForward as unknown as (...a: unknown[]) => void;
    const back = addon.linearAttentionBackward as unknown as (...a: unknown[]) => void;
    const scan = addon.linearScanForward as unknown as (...a: unknown[]) => void;
    const scanBack = addon.linearScanBackward as unknown as (...a: unknown[]) => void;
    const range = /^RangeError: /;
    // b=1, h=2, t=5, dk=3, dv=2, chunk 2, causal: q k v g kv0 z0 | out kv z.
    const d = [1, 2, 5, 3, 2, 2, 1, 0];
    const sizes = [30, 30, 20, 10, 12, 6, 20, 12, 6];
    const forward = (s: number[], dd = d, scale = 1, eps = 0) =>
      thrown(() => fwd(...s.map(f32), dims(dd), scale, eps));
    expect(forward(sizes)).toBe('nothing');
    for (let i = 0; i < sizes.length; i++) {
      expect(forward(sizes.map((n, j) => (j === i ? n - 1 : n)))).toMatch(range);
    }
    expect(forward(sizes, [1, 2, 5, 3, 2, 0, 1, 0])).toMatch(/chunk size must be >= 1/);
    expect(forward(sizes, [1, 2, -5, 3, 2, 2, 1, 0])).toMatch(range);
    expect(forward(sizes, [1, 2, 5, 3, 2])).toMatch(range);
    expect(forward(sizes, [2 ** 31 - 1, 2 ** 31 - 1, 5, 3, 2, 2, 1, 0])).toMatch(range);
    expect(forward(sizes, d, NaN)).toMatch(range);
    expect(thrown(() => fwd(f32(1), f32(1)))).toMatch(/^TypeError: .*expected 12 arguments/);
    const ints = [new Int32Array(30), ...sizes.slice(1).map(f32)];
    expect(thrown(() => fwd(...ints, dims(d), 1, 0))).toMatch(/^TypeError: .*Float32Array/);
    // The backward: q k v g kv0 z0 dout dkv dz | dq dk dv dg dkv0 dz0.
    const backSizes = [...sizes, 30, 30, 20, 10, 12, 6];
    expect(thrown(() => back(...backSizes.map(f32), dims(d), 1, 0))).toBe('nothing');
    for (let i = 0; i < backSizes.length; i++) {
      const short = backSizes.map((n, j) => f32(j === i ? n - 1 : n));
      expect(thrown(() => back(...short, dims(d), 1, 0))).toMatch(range);
    }
    // The scan, [2, 3, 4]: a b h0 | h last, and a h0 h dh dlast | da db dh0. The selective
    // scan, [b 2, t 3, E 4, N 5]: u delta A B C D h0 | y last, and with dy dlast | 7 gradients.
    const selective = [24, 24, 20, 30, 30, 4, 40];
    const cases: Array<[(...a: unknown[]) => void, number[], number[]]> = [
      [scan, [24, 24, 8, 24, 8], [2, 3, 4]],
      [scanBack, [24, 8, 24, 24, 8, 24, 24, 8], [2, 3, 4]],
      [addon.selectiveScanForward as never, [...selective, 24, 40], [2, 3, 4, 5]],
      [addon.selectiveScanBackward as never, [...selective, 24, 40, ...selective], [2, 3, 4, 5]],
    ];
    for (const [fn, list, dd] of cases) {
      expect(thrown(() => fn(...list.map(f32), dims(dd)))).toBe('nothing');
      for (let i = 0; i < list.length; i++) {
        const short = list.map((n, j) => f32(j === i ? n - 1 : n));
        expect(thrown(() => fn(...short, dims(dd)))).toMatch(range);
      }
      expect(
        thrown(() => fn(...list.map(f32), dims(dd.map((x, k) => (k === 1 ? -x : x))))),
      ).toMatch(range);
      expect(thrown(() => fn(...list.map(f32), dims(dd.slice(1))))).toMatch(range);
    }
  });
});
