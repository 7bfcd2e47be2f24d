import * as tf from '@tensorflow/tfjs-core';
import {
  MASK_NEGATIVE,
  ConfigError,
  ShapeError,
  applyMask,
  causalMask,
  combineMasks,
  maskToAdditive,
  paddingMask,
  positionMask,
  prefixLmMask,
  segmentMask,
  slidingWindowMask,
} from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';

const bools = (t: tf.Tensor) => Array.from(t.dataSync()).map((v) => (v ? 1 : 0));

describe('masks', () => {
  it('causal: square, and with an offset for decoding', () => {
    expect(bools(causalMask(3, 3))).toEqual([1, 0, 0, 1, 1, 0, 1, 1, 1]);
    // 2 new queries after 2 cached keys: positions 2 and 3 over keys 0..3
    expect(bools(causalMask(2, 4))).toEqual([1, 1, 1, 0, 1, 1, 1, 1]);
    expect(bools(causalMask(1, 3, 0))).toEqual([1, 0, 0]);
  });

  it('sliding window keeps the last `window` positions', () => {
    expect(bools(slidingWindowMask(4, 4, 2))).toEqual([
      1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1,
    ]);
    expect(() => slidingWindowMask(4, 4, 0)).toThrow(
      'slidingWindowMask: window expected an integer >= 1, got 0',
    );
    expect(() => slidingWindowMask(4, 4, 1.5)).toThrow(/window/);
  });

  it('sliding window with a decode offset and window 1 (self only)', () => {
    // one query at position 4 over 5 keys, window 2: keys 3 and 4
    expect(bools(slidingWindowMask(1, 5, 2))).toEqual([0, 0, 0, 1, 1]);
    expect(bools(slidingWindowMask(2, 2, 1))).toEqual([1, 0, 0, 1]);
    // a window longer than the sequence is plain causal
    expect(bools(slidingWindowMask(3, 3, 10))).toEqual(bools(causalMask(3, 3)));
    expect(() => slidingWindowMask(2, 2, 1, 0.5)).toThrow(ConfigError);
  });

  it('padding masks keys beyond each length', () => {
    const m = paddingMask([2, 3], 3);
    expect(m.shape).toEqual([2, 1, 1, 3]);
    expect(bools(m)).toEqual([1, 1, 0, 1, 1, 1]);
    expect(bools(paddingMask(tf.tensor1d([1], 'int32'), 2))).toEqual([1, 0]);
    expect(() => paddingMask([-1], 2)).toThrow(ConfigError);
  });

  it('segment ids give a block-diagonal mask', () => {
    const m = segmentMask(tf.tensor2d([[0, 0, 1]], [1, 3], 'int32'));
    expect(m.shape).toEqual([1, 1, 3, 3]);
    expect(bools(m)).toEqual([1, 1, 0, 1, 1, 0, 0, 0, 1]);
    expect(() => segmentMask(tf.zeros([1, 3]), tf.zeros([2, 3]))).toThrow(ShapeError);
    expect(() => segmentMask(tf.zeros([3]) as unknown as tf.Tensor2D)).toThrow(
      'segmentMask: querySegments expected rank 2, got rank 1 [3]',
    );
  });

  it('segment ids for cross attention (queries and keys differ in length)', () => {
    const q = tf.tensor2d([[1, 2]], [1, 2], 'int32');
    const k = tf.tensor2d([[2, 1, 1]], [1, 3], 'int32');
    expect(segmentMask(q, k).shape).toEqual([1, 1, 2, 3]);
    expect(bools(segmentMask(q, k))).toEqual([0, 1, 1, 1, 0, 0]);
  });

  it('prefix LM is bidirectional over the prefix', () => {
    expect(bools(prefixLmMask(3, 2))).toEqual([1, 1, 0, 1, 1, 0, 1, 1, 1]);
    expect(bools(prefixLmMask(3, 0))).toEqual(bools(causalMask(3, 3)));
    expect(bools(prefixLmMask(2, 2))).toEqual([1, 1, 1, 1]);
    expect(() => prefixLmMask(3, -1)).toThrow(/prefixLength/);
  });

  it('combines with broadcasting, converts to additive and applies', () => {
    const both = combineMasks(causalMask(2, 2), undefined, paddingMask([1], 2))!;
    expect(both.shape).toEqual([1, 1, 2, 2]);
    expect(bools(both)).toEqual([1, 0, 1, 0]);
    expect(combineMasks()).toBeUndefined();
    expect(() => combineMasks(tf.ones([2]))).toThrow(/dtype bool/);
    expect(() => combineMasks(causalMask(2, 3), causalMask(2, 2))).toThrow(
      'combineMasks: masks[1] expected a shape that broadcasts against [2,3], got shape [2,2]',
    );
    expect(Array.from(maskToAdditive(causalMask(1, 2, 0)).dataSync())).toEqual([0, MASK_NEGATIVE]);
    const logits = tf.ones([1, 2, 2, 2]);
    const masked = applyMask(logits, causalMask(2, 2));
    expect(masked.shape).toEqual([1, 2, 2, 2]);
    expect(Array.from(masked.dataSync()).slice(0, 4)).toEqual([1, MASK_NEGATIVE, 1, 1]);
    expect(
      Array.from(applyMask(logits, maskToAdditive(causalMask(2, 2))).dataSync()).slice(0, 2),
    ).toEqual([1, Math.fround(1 + MASK_NEGATIVE)]);
  });

  it('applyMask passes gradients only to kept logits and checks its inputs', () => {
    const logits = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(applyMask(t, causalMask(2, 2))))(logits);
    expect(Array.from(g.dataSync())).toEqual([1, 0, 1, 1, 1, 0, 1, 1]);
    expect(() => applyMask(logits, causalMask(3, 3))).toThrow(ShapeError);
    expect(() => applyMask(tf.zeros([2, 2], 'int32'), causalMask(2, 2))).toThrow(/logits/);
    expect(() => applyMask(logits, tf.zeros([2, 2], 'int32'))).toThrow(/mask expected dtype/);
    expect(() => maskToAdditive(tf.zeros([2]))).toThrow(ShapeError);
    expect(applyMask(logits, undefined)).not.toBe(logits);
  });

  it('leaks nothing', async () => {
    await expectNoLeaks(() => {
      const seg = tf.zeros([1, 3], 'int32');
      const logits = tf.zeros([1, 1, 3, 3]);
      const ms = [
        causalMask(3, 3),
        slidingWindowMask(3, 3, 2),
        paddingMask([2], 3),
        segmentMask(seg as tf.Tensor2D),
        prefixLmMask(3, 1),
      ];
      const all = combineMasks(...ms)!;
      tf.dispose([...ms, all, maskToAdditive(all), applyMask(logits, all), seg, logits]);
    });
  });
});

describe('positionMask', () => {
  // The rule written out per pair: causal, and inside the window or a sink.
  const rule = (qp: number[], kp: number[], window?: number, sinks = 0) =>
    qp.flatMap((q) =>
      kp.map((k) => (k <= q && (window === undefined || q - k < window || k < sinks) ? 1 : 0)),
    );

  it('follows the rule on positions with gaps and out of order', () => {
    const qp = [9, 4, 6];
    const kp = [0, 1, 3, 4, 5, 6, 8, 9];
    expect(positionMask(qp, kp).shape).toEqual([3, 8]);
    expect(bools(positionMask(qp, kp))).toEqual(rule(qp, kp));
    expect(bools(positionMask(qp, kp, { window: 3 }))).toEqual(rule(qp, kp, 3));
    expect(bools(positionMask(qp, kp, { window: 3, sinkTokens: 2 }))).toEqual(rule(qp, kp, 3, 2));
    // Sinks never open future keys, and mean nothing without a window.
    expect(bools(positionMask([1], [0, 1, 2], { sinkTokens: 3 }))).toEqual([1, 1, 0]);
  });

  it('is causalMask and slidingWindowMask on consecutive positions', () => {
    const qp = [3, 4, 5];
    const kp = [0, 1, 2, 3, 4, 5];
    expect(bools(positionMask(qp, kp))).toEqual(bools(causalMask(3, 6)));
    expect(bools(positionMask(qp, kp, { window: 2 }))).toEqual(bools(slidingWindowMask(3, 6, 2)));
  });

  it('checks its inputs and leaks nothing', async () => {
    expect(() => positionMask([0.5], [0])).toThrow(
      'positionMask: queryPositions[0] expected an integer >= -9007199254740991, got 0.5',
    );
    expect(() => positionMask([0], [0, 1.5])).toThrow(/keyPositions\[1\]/);
    expect(() => positionMask([0], [0], { window: 0 })).toThrow(ConfigError);
    expect(() => positionMask([0], [0], { window: 2, sinkTokens: -1 })).toThrow(/sinkTokens/);
    await expectNoLeaks(() => {
      positionMask([2, 3], [0, 1, 2, 3], { window: 2, sinkTokens: 1 }).dispose();
    });
  });
});
