import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  build,
  type Module,
  type PositionalEncoding,
} from '@attnkit/core';
import '@attnkit/positional'; // registers 'rotary'
import {
  blockAttentionMask,
  shiftKeyPositions,
  type KVCache,
  type MultiHeadAttention,
} from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { makeMixer, randomInput } from '../helpers';

// Block-Attention (Sun et al. 2024): blocks encoded on their own, the last block sees all.

/** Plain-JS reference: query i sees key j when same block, or i is in the row's last block. */
function referenceMask(segments: number[][]): boolean[][][] {
  return segments.map((row) => {
    const last = row[row.length - 1];
    return row.map((qi) => row.map((kj) => qi === kj || qi === last));
  });
}

const rope = () => build<Module & PositionalEncoding>({ type: 'rotary', headDim: 4 });

describe('blockAttentionMask', () => {
  it('lets a token see its own block, and the last block see every block', () => {
    const rows = [
      [0, 0, 1, 1, 2, 2],
      [5, 3, 3, 4, 4, 4],
    ];
    const mask = blockAttentionMask(tf.tensor2d(rows, [2, 6], 'int32'));
    expect(mask.shape).toEqual([2, 1, 6, 6]);
    const got = (mask.arraySync() as unknown as boolean[][][][]).map((b) => b[0]);
    expect(got.map((b) => b!.map((r) => r.map(Boolean)))).toEqual(referenceMask(rows));
    mask.dispose();
  });

  it('refuses non-integer or mismatched segment ids with typed errors', () => {
    const f = tf.zeros([1, 3]) as tf.Tensor2D;
    const i = tf.zeros([2, 3], 'int32') as tf.Tensor2D;
    const one = tf.zeros([1, 3], 'int32') as tf.Tensor2D;
    expect(() => blockAttentionMask(f)).toThrow(ShapeError);
    expect(() => blockAttentionMask(one, i)).toThrow(ShapeError);
    tf.dispose([f, i, one]);
  });
});

describe('shiftKeyPositions (position re-encoding)', () => {
  it('RoPE: encoding at 0 then shifting equals encoding at the offset (<= 1e-5)', async () => {
    const r = rope();
    const keys = tf.randomNormal([1, 2, 5, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
    for (const offset of [0, 3, 17, 250]) {
      const at0 = r.rotate!(keys, tf.range(0, 5, 1, 'int32') as tf.Tensor1D);
      const shifted = shiftKeyPositions(at0, r, offset);
      const direct = r.rotate!(keys, tf.range(offset, offset + 5, 1, 'int32') as tf.Tensor1D);
      expect(maxAbsDiff(shifted, direct)).toBeLessThanOrEqual(1e-5);
      expect(offset === 0 || maxAbsDiff(shifted, at0) > 1e-3).toBe(true);
    }
    const at0 = r.rotate!(keys, tf.range(0, 5, 1, 'int32') as tf.Tensor1D);
    await expectNoLeaks(() => shiftKeyPositions(at0, r, 7).dispose());
    tf.dispose([keys, at0]);
    r.dispose();
  });

  it('copies keys of position-free encodings and refuses embed or a fractional offset', () => {
    const keys = tf.ones([1, 1, 2, 4]) as tf.Tensor4D;
    const copy = shiftKeyPositions(keys, { kind: 'bias' }, 9);
    expect(maxAbsDiff(copy, keys)).toBe(0);
    expect(copy).not.toBe(keys);
    expect(() => shiftKeyPositions(keys, { kind: 'embed' }, 1)).toThrow(ConfigError);
    expect(() => shiftKeyPositions(keys, undefined, 1.5)).toThrow(ConfigError);
    tf.dispose([keys, copy]);
  });
});

describe('softmax mixers with context.blockAttention', () => {
  const segments = [0, 0, 1, 1, 1, 2, 2, 2];
  const segmentIds = () => tf.tensor2d([...segments, ...segments], [2, 8], 'int32');

  /** Reference: the block mask written out by hand (causality added by the mixer). */
  const handMask = () =>
    tf.tensor4d(
      referenceMask([segments])
        .flat(2)
        .concat(referenceMask([segments]).flat(2)),
      [2, 1, 8, 8],
      'bool',
    );

  it('gqa with rotary: the option equals the hand-built mask; the last block sees all', () => {
    const r = rope();
    const m = makeMixer<MultiHeadAttention>({ type: 'gqa', numKvHeads: 2 });
    const x = randomInput(8);
    const ids = segmentIds();
    const mask = handMask();
    const got = m.forward(x, { positional: r, segmentIds: ids, blockAttention: true });
    expectClose(got, m.forward(x, { positional: r, mask }), { atol: 1e-5 });
    // Without the option the same ids isolate every block, the last one included.
    const plain = m.forward(x, { positional: r, segmentIds: ids });
    expect(
      maxAbsDiff(tf.slice(got, [0, 5, 0], [-1, 3, -1]), tf.slice(plain, [0, 5, 0], [-1, 3, -1])),
    ).toBeGreaterThan(1e-3);
    expectClose(tf.slice(got, [0, 0, 0], [-1, 5, -1]), tf.slice(plain, [0, 0, 0], [-1, 5, -1]), {
      atol: 1e-6,
    });
    tf.dispose([x, ids, mask]);
    m.dispose();
    r.dispose();
  });

  it('decodes after the blocks: prefill with the blocks, then token by token == full (<= 1e-4)', async () => {
    const r = rope();
    const m = makeMixer<MultiHeadAttention>({ type: 'gqa', numKvHeads: 2 });
    const x = randomInput(11);
    // Tokens after the blocks continue the last block.
    const all = [...segments, 2, 2, 2];
    const fullIds = tf.tensor2d([...all, ...all], [2, 11], 'int32');
    const full = m.forward(x, { positional: r, segmentIds: fullIds, blockAttention: true });
    const run = () => {
      const state = m.initState(2) as KVCache;
      const prompt = tf.slice(x, [0, 0, 0], [-1, 8, -1]) as tf.Tensor3D;
      const ids = segmentIds();
      const outs = [
        m.forward(prompt, { positional: r, state, segmentIds: ids, blockAttention: true }),
      ];
      for (let t = 8; t < 11; t++) {
        const token = tf.slice(x, [0, t, 0], [-1, 1, -1]) as tf.Tensor3D;
        outs.push(m.forward(token, { positional: r, state, blockAttention: true }));
        token.dispose();
      }
      tf.dispose([prompt, ids]);
      state.dispose();
      const out = tf.concat(outs, 1);
      tf.dispose(outs);
      return out;
    };
    const cached = run();
    expectClose(cached, full, { atol: 1e-4 });
    cached.dispose();
    await expectNoLeaks(() => run().dispose());
    tf.dispose([x, fullIds, full]);
    m.dispose();
    r.dispose();
  });

  it('refuses segment ids over a non-empty cache, and the option where it is not honoured', () => {
    const m = makeMixer<MultiHeadAttention>({ type: 'mha' });
    const state = m.initState(2);
    const x = randomInput(2);
    const ids = tf.zeros([2, 2], 'int32') as tf.Tensor2D;
    m.forward(x, { state, segmentIds: ids, blockAttention: true }).dispose();
    expect(() => m.forward(x, { state, segmentIds: ids, blockAttention: true })).toThrow(
      ConfigError,
    );
    const cross = makeMixer({ type: 'cross-attention' });
    expect(() => cross.forward(x, { memory: x, blockAttention: true })).toThrow(
      /context.blockAttention/,
    );
    const linear = makeMixer({ type: 'linear-attention' });
    expect(() => linear.forward(x, { blockAttention: true })).toThrow(/context.blockAttention/);
    tf.dispose([x, ids]);
    state.dispose();
    [m, cross, linear].forEach((mm) => mm.dispose());
  });
});
