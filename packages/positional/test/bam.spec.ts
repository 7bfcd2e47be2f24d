import * as tf from '@tensorflow/tfjs-core';
import { build } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { AlibiBias, BamBias, alibiSlopes } from '@attnkit/positional';
import { type BiasFixture, fixture, range } from './helpers';

const golden = fixture<BiasFixture>('bam.json');

describe('BamBias', () => {
  it('is the generalized-Gaussian log-prior of the reference', () => {
    const enc = build<BamBias>({ type: 'bam', numHeads: 3 });
    expect(enc.kind).toBe('bias');
    const state = {
      shape: tf.tensor1d(golden.shape as number[]),
      logScale: tf.tensor1d(golden.logScale as number[]),
      location: tf.tensor1d(golden.location as number[]),
    };
    enc.loadStateDict(state);
    const q = tf.tensor1d(golden.queryPositions, 'int32');
    const k = tf.tensor1d(golden.keyPositions, 'int32');
    const bias = enc.bias(q, k, 3);
    expect(bias.shape).toEqual([1, 3, 3, 6]);
    expectClose(bias, [golden.values as number[][][]], { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([...Object.values(state), q, k, bias]);
    enc.dispose();
  });

  it('starts flat (NoPE) by default and equals ALiBi with shape 1 and ALiBi scales', () => {
    const p = range(0, 5);
    const flat = new BamBias({ numHeads: 2 });
    const b = flat.bias(p, p, 2);
    const rowSpread = tf.sub(tf.max(b, -1), tf.min(b, -1));
    expect(tf.max(rowSpread).dataSync()[0]).toBe(0);
    const alibiLike = new BamBias({ numHeads: 4, shapeInit: 1, scaleInit: 'alibi', eps: 1e-9 });
    expectClose(tf.exp(alibiLike.logScale), alibiSlopes(4), { rtol: 1e-6 });
    const alibi = new AlibiBias({ numHeads: 4 });
    expectClose(alibiLike.bias(p, p, 4), alibi.bias(p, p, 4), { atol: 1e-6 });
  });

  it('marks parameters trainable as configured; trainable ones get gradients; no leaks', async () => {
    const q = range(2, 4);
    const k = range(0, 4);
    await expectNoLeaks(() => {
      const enc = new BamBias({ numHeads: 2, shapeInit: 1.5, trainLocation: true });
      expect(enc.trainableParameters()).toHaveLength(3);
      const { value, grads } = tf.variableGrads(() => tf.sum(enc.bias(q, k, 2)) as tf.Scalar);
      for (const v of [enc.shape, enc.logScale, enc.location]) {
        const g = grads[v.name]!;
        expect(tf.tidy(() => tf.min(tf.abs(g)).dataSync()[0]!)).toBeGreaterThan(0);
      }
      tf.dispose([value, grads]);
      enc.dispose();
    });
    const frozen = new BamBias({ numHeads: 2 });
    expect(frozen.trainableParameters().map((v) => v.trainable)).toEqual([true, true]);
    expect(frozen.parameters()).toHaveLength(3);
    frozen.dispose();
    tf.dispose([q, k]);
  });

  it('rejects bad configs and head counts', () => {
    expect(() => build({ type: 'bam', numHeads: 0 })).toThrow(/bam: \$.numHeads/);
    expect(() => build({ type: 'bam', numHeads: 2, scaleInit: -1 })).toThrow(/\$.scaleInit/);
    expect(() => build<Module>({ type: 'bam', numHeads: 2, sigma: 1 })).toThrow(
      /unknown option 'sigma'/,
    );
    const enc = new BamBias({ numHeads: 2 });
    const p = range(0, 2);
    expect(() => enc.bias(p, p, 1)).toThrow(
      'bam: numHeads expected 2 (the configured numHeads), got 1',
    );
    p.dispose();
    enc.dispose();
  });
});
