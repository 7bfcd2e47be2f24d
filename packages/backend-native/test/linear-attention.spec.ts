// The chunked linear-attention kernel (csrc/linear_attention.cc) against the composite: on
// native, @attnkit/attention's linearAttention ('chunk' form) runs the kernel and its gradient
// kernel; on cpu the same call runs the composite. Outputs, final state and every input's
// gradient agree (float32, max abs error <= 1e-4) over odd shapes, size 1, t not a multiple of
// the chunk, decay / gate / initial state on and off, causal and bidirectional, normalised or not.
import * as tf from '@tensorflow/tfjs-core';
import { linearAttention, type LinearAttentionOptions } from '@attnkit/attention';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { CHUNKED_LINEAR_ATTENTION, CHUNKED_LINEAR_ATTENTION_GRAD } from '../src/index';
import { rand } from './helpers';

interface Case {
  shape: [b: number, h: number, t: number, dk: number, dv: number];
  chunkSize: number;
  causal?: boolean;
  normalize?: boolean;
  /** A per-head constant decay (a tensor input with a gradient when 'tensor'). */
  decay?: boolean | 'tensor';
  /** A data-dependent log decay per step. */
  gate?: boolean;
  init?: boolean;
  scale?: number;
}

const CASES: Array<[string, Case]> = [
  ['size 1 everywhere', { shape: [1, 1, 1, 1, 1], chunkSize: 1 }],
  ['size 1, gate, state', { shape: [1, 1, 1, 1, 1], chunkSize: 4, gate: true, init: true }],
  ['odd sizes, t % chunk != 0', { shape: [2, 3, 7, 5, 3], chunkSize: 3 }],
  ['chunk 1', { shape: [1, 2, 5, 3, 4], chunkSize: 1, gate: true }],
  ['chunk > t', { shape: [2, 1, 6, 4, 2], chunkSize: 64, decay: true }],
  ['gate, t % chunk != 0', { shape: [2, 2, 11, 3, 5], chunkSize: 4, gate: true, scale: 0.7 }],
  [
    'decay + gate + state',
    { shape: [1, 3, 9, 4, 3], chunkSize: 4, decay: true, gate: true, init: true },
  ],
  [
    'decay tensor (its gradient) + state + normalize',
    { shape: [2, 2, 7, 3, 2], chunkSize: 3, decay: 'tensor', init: true, normalize: true },
  ],
  ['normalize', { shape: [2, 2, 10, 4, 3], chunkSize: 3, normalize: true }],
  [
    'normalize + gate + state',
    { shape: [1, 2, 9, 3, 2], chunkSize: 4, normalize: true, gate: true, init: true },
  ],
  // The kernel caps its chunks at 1024 steps: same result up to rounding.
  ['t = 1100, chunkSize 5000', { shape: [1, 1, 1100, 2, 1], chunkSize: 5000, gate: true }],
  ['bidirectional', { shape: [2, 1, 7, 3, 5], chunkSize: 3, causal: false, scale: 0.5 }],
  [
    'bidirectional normalize',
    { shape: [1, 2, 8, 5, 1], chunkSize: 2, causal: false, normalize: true },
  ],
];

/** Inputs of one case (seeded: the same values on every backend) and the op's options. */
function setup(c: Case) {
  const [b, h, t, dk, dv] = c.shape;
  // Normalising divides by q·z: positive features keep it away from 0, as feature maps do.
  const feature = (shape: number[], seed: number) =>
    c.normalize ? tf.randomUniform(shape, 0.1, 1, 'float32', seed) : rand(shape, seed);
  const inputs: tf.Tensor[] = [
    feature([b, h, t, dk], 1),
    feature([b, h, t, dk], 2),
    rand([b, h, t, dv], 3),
  ];
  if (c.decay === 'tensor') inputs.push(tf.randomUniform([h], 0.5, 0.99, 'float32', 10));
  if (c.gate) inputs.push(tf.neg(tf.softplus(rand([b, h, t], 4))));
  if (c.init) {
    inputs.push(rand([b, h, dk, dv], 5));
    if (c.normalize) inputs.push(tf.randomUniform([b, h, dk], 0.5, 1.5, 'float32', 6));
  }
  const options = (x: tf.Tensor[]): LinearAttentionOptions => {
    let i = 3;
    const o: LinearAttentionOptions = {
      chunkSize: c.chunkSize,
      causal: c.causal ?? true,
      normalize: c.normalize ?? false,
      scale: c.scale ?? 1,
    };
    if (c.decay === 'tensor') o.decay = x[i++];
    else if (c.decay) o.decay = Array.from({ length: h }, (_, j) => 0.6 + (0.35 * j) / h);
    if (c.gate) o.gate = x[i++];
    if (c.init) o.initialState = { kv: x[i++] as tf.Tensor4D, kSum: x[i++] as tf.Tensor3D };
    if (o.initialState && !c.normalize) delete o.initialState.kSum;
    return o;
  };
  return { inputs, options };
}

/** Output, state and the gradients of a weighted sum of all of them, as flat arrays. */
function run(c: Case): Float32Array[] {
  return tf.tidy(() => {
    const { inputs, options } = setup(c);
    const [b, h, t, dk, dv] = c.shape;
    const w = [rand([b, h, t, dv], 7), rand([b, h, dk, dv], 8), rand([b, h, dk], 9)];
    const forward = (...x: tf.Tensor[]) =>
      linearAttention(x[0] as tf.Tensor4D, x[1] as tf.Tensor4D, x[2] as tf.Tensor4D, options(x));
    const loss = (...x: tf.Tensor[]) => {
      const { output, state } = forward(...x);
      let total = tf.add(tf.sum(tf.mul(output, w[0]!)), tf.sum(tf.mul(state.kv, w[1]!)));
      if (state.kSum) total = tf.add(total, tf.sum(tf.mul(state.kSum, w[2]!)));
      return total as tf.Scalar;
    };
    const { output, state } = forward(...inputs);
    const values = [output, state.kv, ...(state.kSum ? [state.kSum] : [])];
    return [...values, ...tf.grads(loss)(inputs)].map((x) => x.dataSync() as Float32Array);
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

async function kernelsOf(f: () => void): Promise<string[]> {
  return on('native', async () => (await tf.profile(() => tf.tidy(f))).kernels.map((k) => k.name));
}

describe('chunked linear attention kernel on native', () => {
  it.each(CASES)('matches the composite, outputs and gradients: %s', async (_name, c) => {
    const composite = await on('cpu', () => run(c));
    const kernel = await on('native', () => run(c));
    expect(kernel.length).toBe(composite.length);
    composite.forEach((expected, i) => {
      expect(kernel[i]!.length).toBe(expected.length);
      expect(maxAbsDiff(kernel[i]!, expected)).toBeLessThanOrEqual(1e-4);
    });
    const ran = await kernelsOf(() => run(c));
    expect(ran).toContain(CHUNKED_LINEAR_ATTENTION);
    expect(ran).toContain(CHUNKED_LINEAR_ATTENTION_GRAD);
  });

  it('falls back to the composite for a per-dimension gate and the other forms', async () => {
    const q = () => rand([1, 2, 5, 3], 1) as tf.Tensor4D;
    const v = () => rand([1, 2, 5, 2], 3) as tf.Tensor4D;
    const vectorGate = () =>
      linearAttention(q(), q(), v(), { gate: tf.neg(tf.softplus(rand([1, 2, 5, 3], 4))) });
    for (const f of [
      vectorGate,
      () => linearAttention(q(), q(), v(), { form: 'parallel' }),
      () => linearAttention(q(), q(), v(), { form: 'recurrent' }),
    ]) {
      expect(await kernelsOf(f)).not.toContain(CHUNKED_LINEAR_ATTENTION);
    }
  });

  it('leaks no tensors, forward and backward', async () => {
    const c = CASES.find(([name]) => name === 'normalize + gate + state')![1];
    await on('native', () => run(c)); // warm-up: tfjs' one-time allocations
    await on('native', () => expectNoLeaks(() => run(c)));
  });
});
