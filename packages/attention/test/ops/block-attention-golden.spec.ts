import * as tf from '@tensorflow/tfjs-core';
import { build, type Module, type PositionalEncoding } from '@attnkit/core';
import '@attnkit/positional'; // registers 'rotary'
import {
  blockAttentionMask,
  scaledDotProductAttention,
  shiftKeyPositions,
} from '@attnkit/attention';
import { maxAbsDiff } from '@attnkit/core/testing';

// Golden values from tools/reference/attention/block_attention_reference.py (PyTorch).
interface Case {
  shape: [number, number, number, number];
  segments: number[];
  q: number[];
  k: number[];
  v: number[];
  probe: number[];
  output: number[];
  dq: number[];
  dk: number[];
  dv: number[];
  keysAtPositions: number[];
}
const golden: Case = require('../fixtures/block-attention.json');

describe('Block-Attention against PyTorch', () => {
  const rope = () => build<Module & PositionalEncoding>({ type: 'rotary', headDim: 4 });

  it('causal block mask with RoPE: output and gradients (<= 1e-4)', () => {
    const r = rope();
    const { shape, segments } = golden;
    const t = shape[2];
    tf.tidy(() => {
      const [q, k, v, probe] = [golden.q, golden.k, golden.v, golden.probe].map((a) =>
        tf.tensor4d(a, shape),
      ) as tf.Tensor4D[];
      const positions = tf.range(0, t, 1, 'int32') as tf.Tensor1D;
      const mask = blockAttentionMask(tf.tensor2d([segments], [1, t], 'int32'));
      const run = (a: tf.Tensor4D, b: tf.Tensor4D, c: tf.Tensor4D) =>
        scaledDotProductAttention(r.rotate!(a, positions), r.rotate!(b, positions), c, {
          causal: true,
          mask,
        }).output;
      expect(maxAbsDiff(run(q!, k!, v!), tf.tensor4d(golden.output, shape))).toBeLessThanOrEqual(
        1e-4,
      );
      const grads = tf.grads((a, b, c) =>
        tf.sum(tf.mul(run(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D), probe!)),
      )([q!, k!, v!]);
      [golden.dq, golden.dk, golden.dv].forEach((want, i) =>
        expect(maxAbsDiff(grads[i]!, tf.tensor4d(want, shape))).toBeLessThanOrEqual(1e-4),
      );
    });
    r.dispose();
  });

  it('keys of each block encoded at 0 and shifted to its offset match PyTorch (<= 1e-5)', () => {
    const r = rope();
    const { shape, segments } = golden;
    tf.tidy(() => {
      const k = tf.tensor4d(golden.k, shape);
      const starts = segments.map((s, i) => (i === 0 || segments[i - 1] !== s ? i : -1));
      const blocks = starts.filter((i) => i >= 0);
      const parts = blocks.map((start, b) => {
        const end = b + 1 < blocks.length ? blocks[b + 1]! : segments.length;
        const block = tf.slice(k, [0, 0, start, 0], [-1, -1, end - start, -1]) as tf.Tensor4D;
        const at0 = r.rotate!(block, tf.range(0, end - start, 1, 'int32') as tf.Tensor1D);
        return shiftKeyPositions(at0, r, start);
      });
      const want = tf.tensor4d(golden.keysAtPositions, shape);
      expect(maxAbsDiff(tf.concat(parts, 2), want)).toBeLessThanOrEqual(1e-5);
    });
    r.dispose();
  });
});
