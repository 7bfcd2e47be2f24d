// Split heads (rotated) and merge heads as one kernel each (csrc/rotary.cc's rotary_heads)
// against the composite: reshape, transpose and @attnkit/positional's rotary on cpu. Outputs
// and gradients agree (max abs error <= 1e-4) for both rotary layouts, a partial rotary, no
// rotary and odd sizes; gradients also by finite differences; the attention mixers run them.
import * as tf from '@tensorflow/tfjs-core';
import {
  Rng,
  build,
  mergeHeadsKernel,
  splitHeadsKernel,
  type Module,
  type TokenMixer,
} from '@attnkit/core';
import { expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';
import { MERGE_HEADS, SPLIT_HEADS } from '@attnkit/kernels';
import { RotaryPositional, type RotaryConfig } from '@attnkit/positional';
import '@attnkit/attention';
import { rand } from './helpers';
import { expectKernelMatchesComposite, kernelsRun, on } from './train-helpers';

/** [b, t, h·d] → [b, h, t, d], rotated by `rotary` when given: the composite of the mixers. */
function composite(x: tf.Tensor, heads: number, positions: number[], rotary?: RotaryPositional) {
  const [b, t, width] = x.shape as [number, number, number];
  const split = tf.transpose(tf.reshape(x, [b, t, heads, width / heads]), [0, 2, 1, 3]);
  return rotary ? rotary.rotate(split as tf.Tensor4D, tf.tensor1d(positions)) : split;
}

const CASES: Array<[string, number[], number, RotaryConfig | undefined]> = [
  ['half layout', [2, 5, 12], 2, { headDim: 6 }],
  ['interleaved layout', [1, 7, 8], 2, { headDim: 4, layout: 'interleaved' as const }],
  ['partial rotary', [2, 3, 24], 3, { headDim: 8, rotaryDim: 4 }],
  ['no rotary, odd sizes', [3, 1, 15], 5, undefined],
  ['size 1', [1, 1, 2], 1, { headDim: 2 }],
];

describe('split / merge heads kernels on native', () => {
  it.each(CASES)('split matches the composite, output and gradient: %s', async (_n, s, h, r) => {
    const rotary = r ? new RotaryPositional(r) : undefined;
    const positions = Array.from({ length: s[1]! }, (_, i) => 3 + 2 * i);
    await expectKernelMatchesComposite(
      (x) =>
        splitHeadsKernel(x as tf.Tensor3D, h, rotary?.rotary, positions) ??
        composite(x, h, positions, rotary),
      () => [rand(s, 1)],
      [SPLIT_HEADS, MERGE_HEADS],
    );
  });

  it('merge matches the composite transpose and reshape, output and gradient', async () => {
    await expectKernelMatchesComposite(
      (x) => {
        const [b, h, t, d] = x.shape as [number, number, number, number];
        const merged = mergeHeadsKernel(x as tf.Tensor4D);
        return merged ?? tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * d]);
      },
      () => [rand([2, 3, 5, 4], 2)],
      [MERGE_HEADS, SPLIT_HEADS],
    );
  });

  it('passes a finite-difference check, and leaks nothing', async () => {
    const rotary = new RotaryPositional({ headDim: 4 });
    await on('native', async () => {
      const x = rand([2, 3, 8], 3);
      finiteDifferenceCheck(
        (a) => splitHeadsKernel(a as tf.Tensor3D, 2, rotary.rotary, [0, 4, 9])!,
        [x],
      );
      await expectNoLeaks(() => {
        const g = tf.grad((a: tf.Tensor) =>
          tf.sum(
            tf.square(
              mergeHeadsKernel(splitHeadsKernel(a as tf.Tensor3D, 2, rotary.rotary, [1, 2, 3])!)!,
            ),
          ),
        )(x);
        g.dispose();
      });
      x.dispose();
    });
  });

  it('declines what it cannot do exactly: other head sizes, missing positions, cpu', async () => {
    const rotary = new RotaryPositional({ headDim: 4 });
    await on('native', () => {
      const x = rand([1, 2, 12], 4) as tf.Tensor3D;
      expect(splitHeadsKernel(x, 2, rotary.rotary, [0, 1])).toBeUndefined(); // heads of 6
      expect(splitHeadsKernel(x, 3, rotary.rotary, [0])).toBeUndefined(); // 1 position for 2 steps
      expect(splitHeadsKernel(x, 5)).toBeUndefined(); // 12 is not 5 heads
      x.dispose();
    });
    await on('cpu', () => {
      const x = rand([1, 2, 4], 1) as tf.Tensor3D;
      expect(splitHeadsKernel(x, 2)).toBeUndefined(); // no kernel on cpu
      x.dispose();
    });
  });

  it('rejects bad attrs through runKernel with a TypeError naming the kernel', async () => {
    await on('native', () => {
      const x = tf.ones([1, 2, 6]);
      const run = (name: string, t: tf.Tensor, attrs: object) =>
        tf.tidy(() => tf.engine().runKernel(name, { x: t }, attrs as tf.NamedAttrMap));
      const base = { heads: 2, inverseFrequencies: [], positions: [], layout: 'half' };
      expect(() => run(SPLIT_HEADS, x, { ...base, heads: 4 })).toThrow(
        /AttnkitSplitHeads: x \[batch, time, heads·headDim\] with heads = 4/,
      );
      expect(() => run(SPLIT_HEADS, x, { ...base, inverseFrequencies: [1, 2] })).toThrow(
        /at most headDim \/ 2 = 1\.5/,
      );
      expect(() => run(SPLIT_HEADS, x, { ...base, inverseFrequencies: [1] })).toThrow(
        /positions must hold 2 finite numbers, got 0/,
      );
      expect(() => run(MERGE_HEADS, x, base)).toThrow(
        /AttnkitMergeHeads: x must be \[batch, heads/,
      );
      expect(() => run(SPLIT_HEADS, x, { ...base, layout: 'x' })).toThrow(/layout must be/);
      x.dispose();
    });
  });
});

describe('split / merge heads in the attention mixers', () => {
  it.each([
    ['gqa with rotary', { type: 'gqa', dModel: 16, numHeads: 4, numKvHeads: 2 }, true],
    ['mha without a positional encoding', { type: 'mha', dModel: 12, numHeads: 3 }, false],
  ])('%s: native matches cpu, outputs and every gradient', async (_n, config, withRotary) => {
    const mixer = build<Module & TokenMixer>(config, { rng: new Rng(5) });
    const positional = withRotary ? new RotaryPositional({ headDim: 4 }) : undefined;
    const run = () =>
      tf.tidy(() => {
        const x = rand([2, 6, config.dModel], 7) as tf.Tensor3D;
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.square(mixer.forward(x, { positional, training: true }))) as tf.Scalar,
        );
        return [value, ...Object.values(grads)].map((t) => Float32Array.from(t.dataSync()));
      });
    const want = await on('cpu', run);
    const got = await on('native', run);
    want.forEach((w, i) => {
      const err = Math.max(...w.map((v, j) => Math.abs(v - got[i]![j]!)));
      expect(err).toBeLessThanOrEqual(1e-4);
    });
    const names = await kernelsRun('native', () => void run());
    expect(names).toContain(SPLIT_HEADS);
    expect(names).toContain(MERGE_HEADS);
    expect(names).not.toContain('AttnkitRotary');
    mixer.dispose();
  });
});
