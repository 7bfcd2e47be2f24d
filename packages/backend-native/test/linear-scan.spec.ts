// The linear scan kernel (csrc/linear_scan.cc) against the composite: on native,
// @attnkit/attention's linearRecurrence ('chunk' form) runs the kernel and its gradient kernel;
// on cpu the same call runs the composite. Outputs, final state and the gradients of a, b and
// h0 agree (float32, max abs error <= 1e-4), with a broadcast, size 1 and odd shapes.
import * as tf from '@tensorflow/tfjs-core';
import { linearRecurrence, type LinearRecurrenceOptions } from '@attnkit/attention';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { LINEAR_SCAN, LINEAR_SCAN_GRAD } from '../src/index';
import { rand } from './helpers';

interface Case {
  b: number[];
  /** a's shape (broadcasts to b's); default b's. */
  a?: number[];
  init?: boolean;
  chunkSize?: number;
  /** Compare with the composite's 'sequential' form (a of either sign). */
  signed?: boolean;
}

const CASES: Array<[string, Case]> = [
  ['size 1, no channels', { b: [1, 1] }],
  ['odd sizes', { b: [2, 7, 3], init: true, chunkSize: 3 }],
  ['rank 4, a per step broadcast over a channel axis', { b: [3, 5, 2, 3], a: [3, 5, 1, 3] }],
  ['a constant in time', { b: [2, 9, 4], a: [1, 1, 4], init: true, chunkSize: 4 }],
  ['a of either sign (sequential reference)', { b: [2, 6, 5], init: true, signed: true }],
];

function run(c: Case, form: 'chunk' | 'sequential'): Float32Array[] {
  return tf.tidy(() => {
    const aShape = c.a ?? c.b;
    const a = c.signed ? rand(aShape, 1) : tf.randomUniform(aShape, 0.2, 1, 'float32', 1);
    const b = rand(c.b, 2);
    const stateShape = [c.b[0]!, ...c.b.slice(2)];
    const inputs = [a, b, ...(c.init ? [rand(stateShape, 3)] : [])];
    const wOut = rand(c.b, 4);
    const wState = rand(stateShape, 5);
    const options = (x: tf.Tensor[]): LinearRecurrenceOptions => ({
      form,
      chunkSize: c.chunkSize ?? 16,
      ...(c.init ? { initialState: x[2] } : {}),
    });
    const loss = (...x: tf.Tensor[]) => {
      const { output, state } = linearRecurrence(x[0]!, x[1]!, options(x));
      return tf.add(tf.sum(tf.mul(output, wOut)), tf.sum(tf.mul(state, wState))) as tf.Scalar;
    };
    const { output, state } = linearRecurrence(a, b, options(inputs));
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

describe('linear scan kernel on native', () => {
  it.each(CASES)('matches the composite, outputs and gradients: %s', async (_name, c) => {
    const composite = await on('cpu', () => run(c, c.signed ? 'sequential' : 'chunk'));
    const kernel = await on('native', () => run(c, 'chunk'));
    expect(kernel.length).toBe(composite.length);
    composite.forEach((expected, i) => {
      expect(kernel[i]!.length).toBe(expected.length);
      expect(maxAbsDiff(kernel[i]!, expected)).toBeLessThanOrEqual(1e-4);
    });
    const profile = await on('native', () => tf.profile(() => void run(c, 'chunk')));
    const names = profile.kernels.map((k) => k.name);
    expect(names).toContain(LINEAR_SCAN);
    expect(names).toContain(LINEAR_SCAN_GRAD);
  });

  it("keeps the composite for the 'sequential' form", async () => {
    const profile = await on('native', () =>
      tf.profile(() => void run({ b: [1, 4, 2] }, 'sequential')),
    );
    expect(profile.kernels.map((k) => k.name)).not.toContain(LINEAR_SCAN);
  });

  it('leaks no tensors, forward and backward', async () => {
    const c = CASES.find(([name]) => name === 'a constant in time')![1];
    await on('native', () => run(c, 'chunk'));
    await on('native', () => expectNoLeaks(() => run(c, 'chunk')));
  });
});
