import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, build } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { T5RelativeBias, t5RelativeBucket } from '@attnkit/positional';
import { fixture, range } from './helpers';

interface BucketCase {
  bidirectional: boolean;
  numBuckets: number;
  maxDistance: number;
  buckets: number[];
}
const golden = fixture<{ relative: number[]; cases: BucketCase[] }>('t5.json');

describe('t5RelativeBucket', () => {
  it.each(golden.cases)(
    'matches the reference (bidirectional $bidirectional, $numBuckets buckets, maxDistance $maxDistance)',
    (c) => {
      const rel = tf.tensor1d(golden.relative, 'int32');
      const buckets = t5RelativeBucket(rel, c);
      expect(buckets.dtype).toBe('int32');
      expect(Array.from(buckets.dataSync())).toEqual(c.buckets);
      tf.dispose([rel, buckets]);
    },
  );

  it('keeps shape and uses exact buckets for short distances', () => {
    const rel = tf.tensor2d([
      [0, 1, 2],
      [-1, 0, 1],
    ]);
    const b = t5RelativeBucket(rel, { bidirectional: true, numBuckets: 32, maxDistance: 128 });
    expect(b.arraySync()).toEqual([
      [0, 17, 18],
      [1, 0, 17],
    ]);
    const causal = t5RelativeBucket(rel, {
      bidirectional: false,
      numBuckets: 32,
      maxDistance: 128,
    });
    expect(causal.arraySync()).toEqual([
      [0, 0, 0],
      [1, 0, 0],
    ]);
    tf.dispose([rel, b, causal]);
  });

  it('rejects too few buckets and a maxDistance inside the exact range', () => {
    const rel = tf.zeros([2]);
    const opts = { bidirectional: true, numBuckets: 2, maxDistance: 10 };
    expect(() => t5RelativeBucket(rel, opts)).toThrow(ConfigError);
    expect(() => t5RelativeBucket(rel, opts)).toThrow(
      't5-relative: numBuckets expected an integer >= 4, got 2',
    );
    expect(() => t5RelativeBucket(rel, { ...opts, numBuckets: 32, maxDistance: 8 })).toThrow(
      't5-relative: maxDistance (> numBuckets/4=8) expected an integer >= 9, got 8',
    );
    rel.dispose();
  });
});

describe('T5RelativeBias', () => {
  it('looks up weight[bucket(j - i), h] for each head', () => {
    const enc = build<T5RelativeBias>({
      type: 't5-relative',
      numHeads: 2,
      numBuckets: 8,
      maxDistance: 16,
    });
    expect(enc.kind).toBe('bias');
    expect(enc.config).toMatchObject({ numBuckets: 8, maxDistance: 16, bidirectional: true });
    expect(enc.weight.shape).toEqual([8, 2]);
    const q = range(3, 6);
    const k = range(0, 8);
    const bias = enc.bias(q, k, 2);
    expect(bias.shape).toEqual([1, 2, 3, 8]);
    const rel = tf.sub(tf.expandDims(k, 0), tf.expandDims(q, 1));
    const buckets = t5RelativeBucket(rel, enc.config).arraySync() as number[][];
    const w = enc.weight.arraySync() as number[][];
    const expected = [0, 1].map((h) => buckets.map((row) => row.map((b) => w[b]![h]!)));
    expectClose(bias, [expected], { atol: 0 });
    enc.dispose();
  });

  it('gets gradients for the buckets it used, draws from the module rng, does not leak', async () => {
    const q = range(0, 2);
    await expectNoLeaks(() => {
      const enc = new T5RelativeBias(
        { numHeads: 3, numBuckets: 8, maxDistance: 16 },
        { rng: new Rng(1) },
      );
      const { value, grads } = tf.variableGrads(() => tf.sum(enc.bias(q, q, 3)) as tf.Scalar);
      const g = grads[enc.weight.name]!.arraySync() as number[][];
      // pairs (0,0), (1,1) -> bucket 0; (0,1) -> bucket 5 (upper half); (1,0) -> bucket 1
      expect(g.map((row) => row[0])).toEqual([2, 1, 0, 0, 0, 1, 0, 0]);
      tf.dispose([value, grads]);
      enc.dispose();
    });
    q.dispose();
  });

  it('rejects a bad config and head count', () => {
    expect(() => build({ type: 't5-relative', numHeads: 2, numBuckets: 3 })).toThrow(
      /numBuckets expected an integer >= 4, got 3/,
    );
    expect(() => build({ type: 't5-relative', numHeads: 0 })).toThrow(/\$.numHeads/);
    const enc = new T5RelativeBias({ numHeads: 2 });
    const q = range(0, 2);
    expect(() => enc.bias(q, q, 3)).toThrow(/t5-relative: numHeads expected 2/);
    q.dispose();
    enc.dispose();
  });
});
