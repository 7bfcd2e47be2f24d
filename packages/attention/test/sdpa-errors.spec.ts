import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@attnkit/core';
import {
  repeatKvHeads,
  scaledDotProductAttention,
  type AttentionOptions,
} from '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';

const rand = (shape: [number, number, number, number], seed: number) =>
  tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor4D;

describe('scaledDotProductAttention: head sharing and bad input', () => {
  const q = rand([2, 4, 5, 8], 1);
  const k = rand([2, 2, 5, 8], 2);
  const v = rand([2, 2, 5, 6], 3);
  const sdpa = (options: AttentionOptions, kk = k, vv = v, qq = q) =>
    scaledDotProductAttention(qq, kk, vv, options);

  it('GQA equals MHA over the repeated key/value heads; MQA is GQA with one head', () => {
    for (const chunkSize of [undefined, 2]) {
      const grouped = sdpa({ causal: true, chunkSize }).output;
      const full = sdpa(
        { causal: true, chunkSize },
        repeatKvHeads(k, 4),
        repeatKvHeads(v, 4),
      ).output;
      expectClose(grouped, full, { atol: 1e-6 });
      const k1 = tf.slice(k, [0, 0, 0, 0], [-1, 1, -1, -1]) as tf.Tensor4D;
      const v1 = tf.slice(v, [0, 0, 0, 0], [-1, 1, -1, -1]) as tf.Tensor4D;
      expectClose(
        sdpa({ chunkSize }, k1, v1).output,
        sdpa({ chunkSize }, repeatKvHeads(k1, 4), repeatKvHeads(v1, 4)).output,
        { atol: 1e-6 },
      );
    }
  });

  it('rejects mismatched head counts, shapes and dtypes with the argument and the values', () => {
    expect(() => sdpa({}, rand([2, 3, 5, 8], 4), rand([2, 3, 5, 6], 5))).toThrow(
      'scaledDotProductAttention: k heads expected a divisor of the 4 query heads, got 3 key/value heads',
    );
    expect(() => sdpa({}, rand([2, 2, 5, 7], 4))).toThrow(
      'scaledDotProductAttention: k expected shape [2,kvHeads,tk,8] (batch and headDim of q), got shape [2,2,5,7]',
    );
    expect(() => sdpa({}, k, rand([2, 1, 5, 6], 4))).toThrow(
      'scaledDotProductAttention: v expected shape [2,2,5,dv] (as k), got shape [2,1,5,6]',
    );
    expect(() => sdpa({}, k, v, tf.zeros([2, 5, 8]) as unknown as tf.Tensor4D)).toThrow(
      'scaledDotProductAttention: q expected rank 4, got rank 3 [2,5,8]',
    );
    expect(() => sdpa({}, tf.cast(k, 'int32') as tf.Tensor4D)).toThrow(ShapeError);
    expect(() => sdpa({}, tf.cast(k, 'int32') as tf.Tensor4D)).toThrow(
      'scaledDotProductAttention: k expected dtype float32, got dtype int32',
    );
    expect(() => sdpa({ sinkLogit: tf.zeros([3]) })).toThrow(
      'scaledDotProductAttention: sinkLogit expected a number or a tensor of 4 values (one per head), got shape [3]',
    );
    expect(() => sdpa({ keyPositions: [0, 1] })).toThrow(
      'scaledDotProductAttention: keyPositions expected 5 positions (one per key), got 2',
    );
    expect(() => sdpa({ querySegments: tf.zeros([2, 4], 'int32') as tf.Tensor2D })).toThrow(
      'scaledDotProductAttention: querySegments expected shape [2,5], got shape [2,4]',
    );
  });

  it('rejects bad option values as ConfigErrors', () => {
    expect(() => sdpa({ window: 0 })).toThrow(
      'scaledDotProductAttention: window expected an integer >= 1, got 0',
    );
    expect(() => sdpa({ window: 1.5 })).toThrow(ConfigError);
    expect(() => sdpa({ chunkSize: 0 })).toThrow(/chunkSize expected an integer >= 1, got 0/);
    expect(() => sdpa({ logitSoftcap: 0 })).toThrow(/logitSoftcap expected a finite number > 0/);
    expect(() => sdpa({ scale: -1 })).toThrow(/scale expected a finite number > 0, got -1/);
    expect(() => sdpa({ dropout: 1 })).toThrow(
      /dropout expected a finite number >= 0 and <= 0.999/,
    );
    expect(() => sdpa({ chunkSize: 2, dropout: 0.1 })).toThrow(
      'scaledDotProductAttention: dropout expected 0 with chunkSize (the chunked form has no weight dropout), got 0.1',
    );
    expect(() => sdpa({ chunkSize: 2, returnWeights: true })).toThrow(
      /returnWeights expected false/,
    );
    expect(() => sdpa({ sinkTokens: -1 })).toThrow(
      'scaledDotProductAttention: sinkTokens expected an integer >= 0, got -1',
    );
  });
});
