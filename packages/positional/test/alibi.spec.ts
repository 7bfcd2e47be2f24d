import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, build } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { AlibiBias, alibiSlopes } from '@attnkit/positional';
import { type BiasFixture, fixture, range } from './helpers';

const golden = fixture<{ slopes: Record<string, number[]>; bias: BiasFixture }>('alibi.json');

describe('alibiSlopes', () => {
  it.each(Object.keys(golden.slopes))('matches the reference code for %s heads', (n) => {
    expectClose(alibiSlopes(Number(n)), golden.slopes[n]!, { atol: 0, rtol: 1e-6 });
  });

  it('is the geometric sequence 2^(-8i/n) for powers of two', () => {
    expect(alibiSlopes(8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((i) => 2 ** -i));
  });

  it('rejects numHeads < 1 and non-integers', () => {
    expect(() => alibiSlopes(0)).toThrow(ConfigError);
    expect(() => alibiSlopes(0)).toThrow('alibi: numHeads expected an integer >= 1, got 0');
    expect(() => alibiSlopes(2.5)).toThrow(/got 2.5/);
    expect(() => build({ type: 'alibi', numHeads: 0 })).toThrow(/alibi: \$.numHeads/);
  });
});

describe('AlibiBias', () => {
  it('gives -slope * |i - j| per head, matching the reference', () => {
    const enc = build<AlibiBias>({ type: 'alibi', numHeads: golden.bias.numHeads });
    expect(enc.kind).toBe('bias');
    const q = tf.tensor1d(golden.bias.queryPositions, 'int32');
    const k = tf.tensor1d(golden.bias.keyPositions, 'int32');
    const b = enc.bias(q, k, 4);
    expect(b.shape).toEqual([1, 4, 4, 5]);
    expectClose(b, [golden.bias.values as number[][][]], { atol: 1e-7 });
    tf.dispose([q, k, b]);
  });

  it('depends only on distance, so a decoding step with offsets equals the full-bias row', () => {
    const enc = new AlibiBias({ numHeads: 3 });
    const full = enc.bias(range(0, 6), range(0, 6), 3);
    const step = enc.bias(range(5, 6), range(0, 6), 3);
    expectClose(step, tf.slice(full, [0, 0, 5, 0], [-1, -1, 1, -1]), { atol: 0 });
    const shifted = enc.bias(range(100, 106), range(100, 106), 3);
    expectClose(shifted, full, { atol: 0 });
  });

  it('does not leak and rejects a mismatched head count', async () => {
    const q = range(0, 3);
    await expectNoLeaks(() => {
      const enc = new AlibiBias({ numHeads: 2 });
      enc.bias(q, q, 2).dispose();
      expect(() => enc.bias(q, q, 4)).toThrow(ShapeError);
      expect(() => enc.bias(q, q, 4)).toThrow(
        'alibi: numHeads expected 2 (the configured numHeads), got 4',
      );
      enc.dispose();
    });
    q.dispose();
  });
});
