import * as tf from '@tensorflow/tfjs-core';
import { Rng, ShapeError, build } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { LearnedPositional } from '@attnkit/positional';
import { randn, range } from './helpers';

describe('LearnedPositional', () => {
  it('adds row p of its table to the token at position p', () => {
    const enc = build<LearnedPositional>({ type: 'learned', maxLength: 10, dim: 4 });
    expect(enc.kind).toBe('embed');
    expect([...enc.namedParameters().keys()]).toEqual(['weight']);
    expect(enc.weight.shape).toEqual([10, 4]);
    const x = randn([2, 3, 4]) as tf.Tensor3D;
    const y = enc.embed(x, range(5, 8));
    const rows = enc.weight.arraySync() as number[][];
    const delta = tf.sub(y, x).arraySync() as number[][][];
    for (const b of [0, 1]) for (let t = 0; t < 3; t++) expectClose(delta[b]![t]!, rows[5 + t]!);
    tf.dispose([x, y]);
    enc.dispose();
  });

  it('draws its initial table from the module rng (same seed, same table)', () => {
    const a = new LearnedPositional({ maxLength: 4, dim: 3 }, { rng: new Rng(3) });
    const b = new LearnedPositional({ maxLength: 4, dim: 3 }, { rng: new Rng(3) });
    expectClose(a.weight, b.weight, { atol: 0 });
    const std = Math.sqrt(tf.moments(a.weight).variance.dataSync()[0]!);
    expect(std).toBeGreaterThan(0.005);
    expect(std).toBeLessThan(0.05);
    a.dispose();
    b.dispose();
  });

  it('gives gradients to exactly the rows used, without leaking', async () => {
    const x = randn([1, 2, 3]) as tf.Tensor3D;
    const p = tf.tensor1d([1, 3], 'int32');
    await expectNoLeaks(() => {
      const enc = new LearnedPositional({ maxLength: 5, dim: 3 });
      const { value, grads } = tf.variableGrads(() => tf.sum(enc.embed(x, p)) as tf.Scalar);
      const g = grads[enc.weight.name]!.arraySync() as number[][];
      expect(g.map((row) => row[0])).toEqual([0, 1, 0, 1, 0]);
      tf.dispose([value, grads]);
      enc.dispose();
    });
    tf.dispose([x, p]);
  });

  it('rejects positions past maxLength, naming the values', () => {
    const enc = new LearnedPositional({ maxLength: 4, dim: 2 });
    const x = tf.zeros([1, 2, 2]) as tf.Tensor3D;
    const p = range(3, 5);
    expect(() => enc.embed(x, p)).toThrow(ShapeError);
    expect(() => enc.embed(x, p)).toThrow(
      'learned: positions expected integers in [0, maxLength=4), got values from 3 to 4',
    );
    const before = tf.memory().numTensors;
    expect(() => enc.embed(x, p)).toThrow();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => build({ type: 'learned', maxLength: 0, dim: 2 })).toThrow(/maxLength/);
    tf.dispose([x, p]);
    enc.dispose();
  });
});
