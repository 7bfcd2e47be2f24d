import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@attnkit/core';
import { broadcastShapes, checkBroadcastsTo, checkFloat } from '../../src/ops/tensor-checks';

describe('tensor checks', () => {
  it('checkFloat accepts float32 only', () => {
    expect(() => checkFloat('op', 'x', tf.zeros([1]))).not.toThrow();
    expect(() => checkFloat('op', 'x', tf.zeros([1], 'int32'))).toThrow(
      'op: x expected dtype float32, got dtype int32',
    );
  });

  it('broadcastShapes follows numpy rules', () => {
    expect(broadcastShapes('op', 'b', [2, 1, 3], [4, 1])).toEqual([2, 4, 3]);
    expect(broadcastShapes('op', 'b', [], [2])).toEqual([2]);
    expect(() => broadcastShapes('op', 'b', [2, 3], [2])).toThrow(ShapeError);
  });

  it('checkBroadcastsTo refuses shapes that would grow the target', () => {
    expect(() => checkBroadcastsTo('op', 's', [1, 2, 1], [3, 2, 4])).not.toThrow();
    expect(() => checkBroadcastsTo('op', 's', [], [3])).not.toThrow();
    expect(() => checkBroadcastsTo('op', 's', [2, 3], [3])).toThrow(
      'op: s expected a shape that broadcasts to [3], got shape [2,3]',
    );
    expect(() => checkBroadcastsTo('op', 's', [2], [3])).toThrow(ShapeError);
  });
});
