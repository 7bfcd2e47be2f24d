// Rotary embedding kernel (csrc/rotary.cc) against the composite: on native, @attnkit/positional's
// applyRotary runs the kernel and its gradient kernel (through core's rotaryKernel); on cpu the
// same call runs the composite. Outputs and the gradient of x agree (float32, max abs error
// <= 1e-4) for both layouts, partial rotary, scaled frequencies, odd sizes and size 1;
// finite differences on native; bad input through runKernel and the addon.
import * as tf from '@tensorflow/tfjs-core';
import { applyRotary, type RotaryOptions } from '@attnkit/positional';
import { expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';
import { ROTARY, ROTARY_GRAD } from '@attnkit/kernels';
import { loadAddon } from '../src/addon';
import { rand } from './helpers';
import { expectKernelMatchesComposite, kernelsRun, on, thrown } from './train-helpers';

const CASES: Array<[string, number[], RotaryOptions, number[] | 'int32' | undefined]> = [
  ['size 1', [1, 1, 1, 2], { headDim: 2 }, undefined],
  ['half layout, odd sizes', [2, 3, 5, 6], { headDim: 6 }, undefined],
  ['interleaved', [1, 2, 7, 8], { headDim: 8, layout: 'interleaved' }, undefined],
  ['partial rotary, odd head size', [2, 1, 4, 7], { headDim: 7, rotaryDim: 4 }, undefined],
  [
    'interleaved, partial, offset positions',
    [1, 2, 3, 6],
    { headDim: 6, rotaryDim: 2, layout: 'interleaved' },
    [100, 101, 102],
  ],
  [
    'YaRN scaling, int32 positions',
    [1, 2, 5, 8],
    { headDim: 8, scaling: { type: 'yarn', factor: 4, originalMaxPosition: 64 } },
    'int32',
  ],
  ['large positions, many rows', [2, 4, 300, 16], { headDim: 16, base: 500000 }, undefined],
];

function positions(t: number, p: number[] | 'int32' | undefined): tf.Tensor1D | number[] {
  if (p === 'int32')
    return tf.tensor1d(
      Array.from({ length: t }, (_, i) => 3 * i + 1),
      'int32',
    );
  return p ?? Array.from({ length: t }, (_, i) => i);
}

describe('rotary kernel on native', () => {
  it.each(CASES)(
    'matches the composite, output and gradient: %s',
    async (_n, shape, options, p) => {
      await expectKernelMatchesComposite(
        (x) => applyRotary(x as tf.Tensor4D, positions(shape[2]!, p), options),
        () => [rand(shape, 1)],
        [ROTARY, ROTARY_GRAD],
      );
    },
  );

  it('recomputes its angles when only the positions or the base change between calls', async () => {
    // The kernel keeps the last angle table: calls of one shape must still each get their own.
    const x = rand([1, 2, 4, 8], 4);
    const calls: Array<[number[], RotaryOptions]> = [
      [[0, 1, 2, 3], { headDim: 8 }],
      [[4, 5, 6, 7], { headDim: 8 }],
      [[4, 5, 6, 7], { headDim: 8, base: 500 }],
      [[0, 1, 2, 3], { headDim: 8 }],
    ];
    const results = async (backend: string) =>
      on(backend, () =>
        calls.map(([p, o]) => tf.tidy(() => applyRotary(x as tf.Tensor4D, p, o).arraySync())),
      );
    const [cpu, native] = [await results('cpu'), await results('native')];
    calls.forEach((_, i) => {
      const a = (cpu[i] as number[][][][]).flat(3);
      const b = (native[i] as number[][][][]).flat(3);
      a.forEach((v, j) => expect(Math.abs(v - b[j]!)).toBeLessThan(1e-5));
    });
    x.dispose();
  });

  it('passes a finite-difference check on native', async () => {
    await on('native', () => {
      const x = rand([1, 2, 3, 6], 2);
      finiteDifferenceCheck(
        (a) => applyRotary(a as tf.Tensor4D, [5, 6, 7], { headDim: 6, rotaryDim: 4 }),
        [x],
      );
      x.dispose();
    });
  });

  it('leaks no tensors, forward and backward', async () => {
    await on('native', () =>
      expectNoLeaks(() => {
        const x = rand([1, 2, 3, 4], 3);
        const g = tf.grad((a: tf.Tensor) =>
          tf.sum(applyRotary(a as tf.Tensor4D, [0, 1, 2], { headDim: 4 })),
        )(x);
        tf.dispose([x, g]);
      }),
    );
  });

  it('keeps the composite on cpu', async () => {
    const call = () =>
      void applyRotary(rand([1, 1, 2, 4], 1) as tf.Tensor4D, [0, 1], { headDim: 4 });
    expect(await kernelsRun('cpu', call)).not.toContain(ROTARY);
    expect(await kernelsRun('native', call)).toContain(ROTARY);
  });

  it('rejects bad shapes, dtypes and attributes through runKernel with a TypeError', async () => {
    await on('native', () => {
      const good = { inverseFrequencies: [1, 0.1], layout: 'half' };
      const run = (
        inputs: Record<string, tf.Tensor>,
        attrs: Record<string, unknown> = good,
        name: string = ROTARY,
      ) => tf.tidy(() => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap));
      const x = tf.zeros([1, 2, 3, 4]);
      const pos = tf.zeros([3]);
      expect(() => run({ x, positions: pos })).not.toThrow();
      expect(() => run({ x: tf.zeros([2, 3, 4]), positions: pos })).toThrow(
        /AttnkitRotary: x must be \[batch, heads, time, headDim\]/,
      );
      expect(() => run({ x, positions: tf.zeros([4]) })).toThrow(/positions must be \[3\]/);
      expect(() => run({ x, positions: tf.zeros([3], 'int32') })).toThrow(
        /positions must be float32/,
      );
      expect(() => run({ x })).toThrow(/positions is missing/);
      expect(() => run({ x, positions: pos }, { ...good, inverseFrequencies: [1, 2, 3] })).toThrow(
        /at most headDim \/ 2 = 2/,
      );
      expect(() => run({ x, positions: pos }, { ...good, inverseFrequencies: [NaN] })).toThrow(
        /finite numbers/,
      );
      expect(() => run({ x, positions: pos }, { ...good, layout: 'neox' })).toThrow(
        /layout must be/,
      );
      expect(() =>
        run({ dy: tf.zeros([1, 2, 3], 'int32'), positions: pos }, good, ROTARY_GRAD),
      ).toThrow(/AttnkitRotaryGrad: dy must be/);
      tf.dispose([x, pos]);
    });
  });

  it('its addon entry checks every array against the dims before touching it', () => {
    const addon = loadAddon() as unknown as Record<string, (...a: unknown[]) => void>;
    // bh 2, t 3, d 4, 2 pairs, half layout: x positions freq | y.
    const sizes = [24, 3, 2, 24];
    const call = (s: number[], dims = [2, 3, 4, 2, 0], sign = 1) =>
      thrown(() =>
        addon.rotaryApply!(...s.map((n) => new Float32Array(n)), Int32Array.from(dims), sign),
      );
    expect(call(sizes)).toBe('nothing');
    for (let i = 0; i < sizes.length; i++) {
      expect(call(sizes.map((n, j) => (j === i ? n - 1 : n)))).toMatch(/^RangeError: /);
    }
    expect(call(sizes, [2, 3, 4, 3, 0])).toMatch(/^RangeError: /);
    expect(call(sizes, [2, 3, 4, 2, 2])).toMatch(/^RangeError: /);
    expect(call(sizes, [2, 3, 4, 2])).toMatch(/^RangeError: /);
    expect(call(sizes, [2, 3, 4, 2, 0], 0.5)).toMatch(/^RangeError: /);
  });
});
