import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, build } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';
import { ShawRelativeBias } from '@attnkit/positional';
import { type BiasFixture, fixture, randn, range } from './helpers';

const golden = fixture<BiasFixture>('shaw.json');

describe('ShawRelativeBias', () => {
  it('adds q_i . a^K_clip(j-i) / sqrt(d), matching the reference', () => {
    const enc = build<ShawRelativeBias>({
      type: 'shaw-relative',
      numHeads: golden.numHeads,
      headDim: golden.headDim as number,
      maxRelativePosition: golden.maxRelativePosition as number,
    });
    expect(enc.kind).toBe('bias');
    const a = tf.tensor2d(golden.keyEmbeddings as number[][]);
    enc.loadStateDict({ keyEmbeddings: a });
    const queries = tf.tensor4d(golden.queries as number[][][][]);
    const q = tf.tensor1d(golden.queryPositions, 'int32');
    const k = tf.tensor1d(golden.keyPositions, 'int32');
    const bias = enc.bias(q, k, golden.numHeads, queries);
    expect(bias.shape).toEqual([2, 2, 3, 6]);
    expectClose(bias, golden.values, { atol: 1e-5 });
    tf.dispose([a, queries, q, k, bias]);
    enc.dispose();
  });

  it('gives gradients to its embeddings and the queries, without leaking', async () => {
    const queries = randn([1, 2, 3, 4]) as tf.Tensor4D;
    const p = range(0, 3);
    await expectNoLeaks(() => {
      const enc = new ShawRelativeBias({ numHeads: 2, headDim: 4, maxRelativePosition: 1 });
      const { value, grads } = tf.variableGrads(
        () => tf.sum(enc.bias(p, p, 2, queries)) as tf.Scalar,
      );
      const g = grads[enc.keyEmbeddings.name]!;
      expect(g.shape).toEqual([3, 4]);
      expect(tf.tidy(() => tf.min(tf.sum(tf.abs(g), 1)).dataSync()[0]!)).toBeGreaterThan(0);
      finiteDifferenceCheck((x) => enc.bias(p, p, 2, x as tf.Tensor4D), [queries]);
      tf.dispose([value, grads]);
      enc.dispose();
    });
    tf.dispose([queries, p]);
  });

  it('requires queries of the right shape and the configured head count', () => {
    const enc = new ShawRelativeBias({ numHeads: 2, headDim: 4, maxRelativePosition: 2 });
    const p = range(0, 3);
    expect(() => enc.bias(p, p, 2)).toThrow(ShapeError);
    expect(() => enc.bias(p, p, 2)).toThrow(
      'shaw-relative: queries expected [batch, heads, tq, headDim] tensor, got none',
    );
    const wrong = tf.zeros([1, 2, 3, 8]) as tf.Tensor4D;
    expect(() => enc.bias(p, p, 2, wrong)).toThrow(/queries expected shape \[\*,2,3,4\]/);
    expect(() => enc.bias(p, p, 3, wrong)).toThrow(/numHeads expected 2/);
    expect(() => build<Module>({ type: 'shaw-relative', numHeads: 2, headDim: 4 })).toThrow(
      /\$.maxRelativePosition/,
    );
    tf.dispose([p, wrong]);
    enc.dispose();
  });
});
