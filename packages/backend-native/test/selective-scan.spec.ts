// Mamba's selective scan kernel (csrc/selective_scan.cc) against the composite: on native,
// @attnkit/attention's selectiveScan ('chunk' form, the mamba mixer's training scan) runs the
// kernel and its gradient kernel; on cpu the same call builds the [b, t, E, N] tensors and runs
// linearRecurrence. Outputs, final state and all seven gradients agree (max abs error <= 1e-4).
import * as tf from '@tensorflow/tfjs-core';
import { selectiveScan } from '@attnkit/attention';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { SELECTIVE_SCAN, SELECTIVE_SCAN_GRAD } from '../src/index';
import { rand } from './helpers';

/** [batch, time, E, N] and whether an initial state is passed. */
const CASES: Array<[string, [number, number, number, number], boolean]> = [
  ['size 1 everywhere', [1, 1, 1, 1], false],
  ['odd sizes, initial state', [2, 7, 3, 5], true],
  ['more channels than blocks (17)', [1, 6, 17, 3], true],
  ['batch 3, N 1', [3, 4, 2, 1], false],
  ['several lane groups of 8 channels (E 40, N 16)', [2, 9, 40, 16], true],
];

function run([batch, time, e, n]: number[], init: boolean): Float32Array[] {
  return tf.tidy(() => {
    const inputs = [
      rand([batch!, time!, e!], 1), // u
      tf.softplus(rand([batch!, time!, e!], 2)), // Δ > 0
      tf.neg(tf.exp(rand([e!, n!], 3))), // A < 0
      rand([batch!, time!, n!], 4),
      rand([batch!, time!, n!], 5),
      rand([e!], 6),
      ...(init ? [rand([batch!, e!, n!], 7)] : []),
    ];
    const wY = rand([batch!, time!, e!], 8);
    const wState = rand([batch!, e!, n!], 9);
    const scan = (x: tf.Tensor[]) =>
      selectiveScan(
        x[0] as tf.Tensor3D,
        x[1] as tf.Tensor3D,
        x[2] as tf.Tensor2D,
        x[3] as tf.Tensor3D,
        x[4] as tf.Tensor3D,
        x[5] as tf.Tensor1D,
        { chunkSize: 3, ...(init ? { initialState: x[6] } : {}) },
      );
    const loss = (...x: tf.Tensor[]) => {
      const { output, state } = scan(x);
      return tf.add(tf.sum(tf.mul(output, wY)), tf.sum(tf.mul(state, wState))) as tf.Scalar;
    };
    const { output, state } = scan(inputs);
    return [output, state, ...tf.grads(loss)(inputs)].map((x) => x.dataSync() as Float32Array);
  });
}

async function on<T>(backend: string, f: () => T | Promise<T>): Promise<T> {
  const initial = tf.getBackend();
  await tf.setBackend(backend);
  // No 'install tfjs-node' banner when cpu is first used here (ATTNKIT_TEST_BACKEND=native).
  (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  try {
    return await f();
  } finally {
    await tf.setBackend(initial);
  }
}

describe('selective scan kernel on native', () => {
  it.each(CASES)('matches the composite, outputs and gradients: %s', async (_n, shape, init) => {
    const composite = await on('cpu', () => run(shape, init));
    const kernel = await on('native', () => run(shape, init));
    expect(kernel.length).toBe(composite.length);
    composite.forEach((expected, i) => {
      expect(kernel[i]!.length).toBe(expected.length);
      expect(maxAbsDiff(kernel[i]!, expected)).toBeLessThanOrEqual(1e-4);
    });
    const profile = await on('native', () => tf.profile(() => void run(shape, init)));
    const names = profile.kernels.map((k) => k.name);
    expect(names).toContain(SELECTIVE_SCAN);
    expect(names).toContain(SELECTIVE_SCAN_GRAD);
  });

  it('refuses bad inputs with typed errors', async () => {
    await on('native', () => {
      const ok = {
        u: tf.zeros([1, 3, 2]),
        delta: tf.zeros([1, 3, 2]),
        a: tf.zeros([2, 4]),
        b: tf.zeros([1, 3, 4]),
        c: tf.zeros([1, 3, 4]),
        d: tf.zeros([2]),
        h0: tf.zeros([1, 2, 4]),
      };
      const call = (inputs: object) =>
        tf.tidy(() => void tf.engine().runKernel(SELECTIVE_SCAN, inputs as never, {}));
      expect(() => call(ok)).not.toThrow();
      expect(() => call({ ...ok, u: tf.zeros([3, 2]) })).toThrow(TypeError);
      expect(() => call({ ...ok, a: tf.zeros([3, 4]) })).toThrow(TypeError);
      expect(() => call({ ...ok, b: tf.zeros([1, 3, 5]) })).toThrow(TypeError);
      expect(() => call({ ...ok, h0: undefined })).toThrow(TypeError);
      expect(() => call({ ...ok, d: tf.zeros([2], 'int32') })).toThrow(TypeError);
      const x = ok.u as tf.Tensor3D;
      const a = ok.a as tf.Tensor2D;
      const bm = ok.b as tf.Tensor3D;
      expect(() => selectiveScan(x, x, a, bm, bm, tf.zeros([3]) as tf.Tensor1D)).toThrow(
        /selectiveScan: d/,
      );
      tf.dispose(Object.values(ok));
    });
  });

  it('leaks no tensors, forward and backward', async () => {
    await on('native', () => run([2, 5, 3, 2], true));
    await on('native', () => expectNoLeaks(() => run([2, 5, 3, 2], true)));
  });
});
