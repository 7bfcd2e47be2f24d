import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import {
  repeatKvHeads,
  THRESHOLD_COMPENSATIONS,
  thresholdAttention,
  type ThresholdCompensation,
} from '@attnkit/attention';

const normal = (shape: number[], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor as tf.Tensor4D;

const [B, H, KVH, TQ, TK, D, DV] = [2, 4, 2, 5, 7, 3, 2];

/** Where each query may look, bool [1, 1, tq, tk] (end-aligned causality). */
const visibility = (causal: boolean) =>
  causal
    ? tf.reshape(
        tf.lessEqual(
          tf.reshape(tf.range(0, TK, 1, 'int32'), [1, TK]),
          tf.reshape(tf.range(TK - TQ, TK, 1, 'int32'), [TQ, 1]),
        ),
        [1, 1, TQ, TK],
      )
    : tf.ones([1, 1, TQ, TK], 'bool');

const repeat = (x: tf.Tensor) => repeatKvHeads(x as tf.Tensor4D, H);

/**
 * The dense reference, written from the definitions over the full [tq, tk] map: p = softmax
 * over the visible keys; 'none' renormalises over the kept keys, 'denominator' keeps p on them,
 * 'vmean' adds the pruned mass times the visible values' mean. `kept` is data, made outside.
 */
function dense(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  kept: tf.Tensor,
  visible: tf.Tensor,
  compensation: ThresholdCompensation,
) {
  const s = tf.mul(tf.matMul(q, repeat(k), false, true), 1 / Math.sqrt(D));
  const values = repeat(v);
  const neg = tf.scalar(-1e9);
  const keptF = tf.cast(kept, 'float32');
  if (compensation === 'none') {
    const w = tf.mul(tf.softmax(tf.where(kept, s, neg)), keptF);
    const anyKept = tf.cast(tf.greater(tf.sum(keptF, -1, true), 0), 'float32');
    return tf.matMul(tf.mul(w, anyKept), values);
  }
  const p = tf.softmax(tf.where(tf.broadcastTo(visible, s.shape), s, neg));
  const w = tf.mul(p, keptF);
  if (compensation === 'denominator') return tf.matMul(w, values);
  const visF = tf.broadcastTo(tf.cast(visible, 'float32'), s.shape);
  const mean = tf.div(tf.matMul(visF, values), tf.sum(visF, -1, true));
  return tf.add(tf.matMul(w, values), tf.mul(tf.sub(1, tf.sum(w, -1, true)), mean));
}

describe('thresholdAttention (Top-θ, Berestizshevsky et al. 2025)', () => {
  const cases = THRESHOLD_COMPENSATIONS.flatMap((c) => [
    [c, false],
    [c, true],
  ]) as [ThresholdCompensation, boolean][];

  it.each(cases)(
    "'%s', causal=%s: the chunked path equals the dense masked reference (outputs, gradients <= 1e-4)",
    (compensation, causal) => {
      tf.tidy(() => {
        const q = normal([B, H, TQ, D], 1);
        const k = normal([B, KVH, TK, D], 2);
        const v = normal([B, KVH, TK, DV], 3);
        const probe = normal([B, H, TQ, DV], 4);
        // Random per-row thresholds, and one row (head 1, query 0) that keeps nothing.
        const empty = tf.reshape(tf.oneHot(tf.tensor1d([TQ], 'int32'), H * TQ), [H, TQ]);
        const theta = tf.add(
          tf.randomNormal([H, TQ], 0, 0.5, 'float32', 5),
          tf.mul(empty, 100),
        ) as tf.Tensor2D;
        const visible = visibility(causal);
        const s = tf.mul(tf.matMul(q, repeat(k), false, true), 1 / Math.sqrt(D));
        const kept = tf.logicalAnd(visible, tf.greaterEqual(s, tf.reshape(theta, [1, H, TQ, 1])));
        const kept0 = tf.sum(tf.cast(kept, 'float32'), -1).dataSync();
        expect(Math.min(...kept0)).toBe(0); // the empty row is there
        expect(Math.max(...kept0)).toBeGreaterThan(1);
        const sparse = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          thresholdAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, {
            thresholds: theta,
            compensation,
            causal,
            chunkSize: 3,
          });
        const ref = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          dense(a, b, c, kept, visible, compensation);
        expectClose(sparse(q, k, v), ref(q, k, v), { atol: 1e-5 });
        const loss = (f: typeof ref) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(tf.mul(f(a, b, c), probe));
        const gs = tf.grads(loss(sparse))([q, k, v]);
        const gd = tf.grads(loss(ref))([q, k, v]);
        gs.forEach((g, i) => expect(maxAbsDiff(g, gd[i]!)).toBeLessThanOrEqual(1e-4));
      });
    },
  );

  it('thresholds at -1e9 keep everything: plain softmax attention, whatever the compensation', () => {
    tf.tidy(() => {
      const q = normal([B, H, TQ, D], 6);
      const k = normal([B, KVH, TK, D], 7);
      const v = normal([B, KVH, TK, DV], 8);
      const all = tf.fill([H, TQ], -1e9) as tf.Tensor2D;
      const outs = THRESHOLD_COMPENSATIONS.map((compensation) =>
        thresholdAttention(q, k, v, { thresholds: all, compensation, chunkSize: 2 }),
      );
      const plain = dense(q, k, v, visibility(false), visibility(false), 'none');
      outs.forEach((o) => expectClose(o, plain, { atol: 1e-5 }));
    });
  });

  it('refuses thresholds of the wrong shape and unknown options with typed errors', () => {
    tf.tidy(() => {
      const q = normal([1, 2, 3, 2], 9);
      const k = normal([1, 2, 3, 2], 10);
      const good = tf.zeros([2, 3]) as tf.Tensor2D;
      expect(() =>
        thresholdAttention(q, k, k, { thresholds: tf.zeros([2, 4]) as tf.Tensor2D }),
      ).toThrow(ShapeError);
      expect(() =>
        thresholdAttention(q, k, k, { thresholds: tf.zeros([2]) as unknown as tf.Tensor2D }),
      ).toThrow(ShapeError);
      expect(() =>
        thresholdAttention(q, k, k, {
          thresholds: good,
          compensation: 'both' as ThresholdCompensation,
        }),
      ).toThrow(ConfigError);
      expect(() => thresholdAttention(q, k, k, { thresholds: good, chunkSize: 0 })).toThrow(
        ConfigError,
      );
    });
  });

  it('leaks nothing over the forward and its gradients', async () => {
    const q = normal([1, 2, 3, 2], 11);
    const k = normal([1, 1, 3, 2], 12);
    const theta = tf.zeros([2, 3]) as tf.Tensor2D;
    await expectNoLeaks(() => {
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(
          thresholdAttention(a as tf.Tensor4D, b as tf.Tensor4D, b as tf.Tensor4D, {
            thresholds: theta,
            causal: true,
            chunkSize: 2,
          }),
        );
      tf.dispose(tf.grads(f)([q, k]));
    });
    tf.dispose([q, k, theta]);
  });
});
