import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, RegistryError, type IncrementalState } from '@attnkit/core';
import { KVCache, retentionPolicies } from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { makeMixer, randomInput, type Mixer } from '../helpers';

/** Runs `x` through `m` one token at a time on `state`, returning the outputs concatenated. */
function feed(m: Mixer, x: tf.Tensor3D, state: IncrementalState): tf.Tensor {
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < x.shape[1]; i++) {
    const step = tf.slice(x, [0, i, 0], [-1, 1, -1]) as tf.Tensor3D;
    outs.push(m.forward(step, { state }));
    step.dispose();
  }
  const out = tf.concat(outs, 1);
  tf.dispose(outs);
  return out;
}

const stateful = [
  { type: 'mha' },
  { type: 'streaming', window: 3, numSinkTokens: 1 },
  { type: 'selective' },
  { type: 'multi-token', numHeads: 2, queryKernel: 2, keyKernel: 3 },
  { type: 'gaam' },
];

describe('decoding states on the one State base', () => {
  it.each(stateful)(
    '%j: a state saved mid-sequence and restored decodes on identically',
    async (config) => {
      const m = makeMixer(config);
      const x = randomInput(6);
      const head = tf.slice(x, [0, 0, 0], [-1, 3, -1]) as tf.Tensor3D;
      const tail = tf.slice(x, [0, 3, 0], [-1, 3, -1]) as tf.Tensor3D;
      const original = m.initState!(2);
      feed(m, head, original).dispose();
      const bytes = await original.save();
      const copy = m.initState!(2);
      copy.restore(bytes);
      expect(copy.length).toBe(3);
      expect(copy.bytes).toBe(original.bytes);
      const a = feed(m, tail, original);
      const b = feed(m, tail, copy);
      expect(maxAbsDiff(a, b)).toBe(0);
      tf.dispose([a, b, x, head, tail]);
      original.dispose();
      copy.dispose();
      m.dispose();
    },
  );

  it.each(stateful)('%j: reordering the batch reorders the decoded outputs', (config) => {
    const m = makeMixer(config);
    const x = randomInput(4);
    const state = m.initState!(2);
    const head = tf.slice(x, [0, 0, 0], [-1, 3, -1]) as tf.Tensor3D;
    const last = tf.slice(x, [0, 3, 0], [-1, 1, -1]) as tf.Tensor3D;
    feed(m, head, state).dispose();
    const straight = m.forward(last, { state });
    // Fresh pass, then swap the rows before the last token (and swap its input likewise).
    const other = m.initState!(2);
    feed(m, head, other).dispose();
    other.reorder([1, 0]);
    const swapped = tf.reverse(last, 0) as tf.Tensor3D;
    const out = m.forward(swapped, { state: other });
    expectClose(out, tf.reverse(straight, 0), { atol: 1e-5 });
    tf.dispose([x, head, last, straight, swapped, out]);
    state.dispose();
    other.dispose();
    m.dispose();
  });

  it('a cache names its tensors and reports bytes; restoring into another kind is refused', async () => {
    const m = makeMixer({ type: 'mha', numKvHeads: 2 });
    const state = m.initState!(2);
    feed(m, randomInput(3), state).dispose();
    expect(Object.keys(state.tensors()).sort()).toEqual(['keys', 'values']);
    expect(state.bytes).toBe(2 * 2 * 3 * 4 * 4 * 2); // b·kvHeads·t·headDim·4 bytes, keys + values
    const bytes = await state.save();
    const selective = makeMixer({ type: 'selective' });
    const other = selective.initState!(2);
    expect(() => other.restore(bytes)).toThrow(/a state saved by a SelectiveState, got a KVCache/);
    state.dispose();
    other.dispose();
    m.dispose();
    selective.dispose();
  });

  it('leaks nothing over decode, save, restore, reorder and dispose', async () => {
    const m = makeMixer({ type: 'multi-token', numHeads: 2, queryKernel: 2, keyKernel: 3 });
    const x = randomInput(3);
    await expectNoLeaks(async () => {
      const state = m.initState!(2);
      feed(m, x, state).dispose();
      const copy = m.initState!(2);
      copy.restore(await state.save());
      copy.reorder([0, 0]);
      state.dispose();
      copy.dispose();
    });
    x.dispose();
    m.dispose();
  });
});

describe('KV-cache retention policies', () => {
  it("'window-sinks' is registered with its paper and keeps sinks plus the window", () => {
    const keep = retentionPolicies.get('window-sinks');
    expect(retentionPolicies.info('window-sinks')?.paper).toMatch(/Xiao et al/);
    expect(keep([0, 1, 2, 3, 4, 5], 6, { window: 2, sinkTokens: 1 })).toEqual([0, 5]);
    expect(keep([0, 1, 2], 3, {})).toBeUndefined();
  });

  it('a user policy plugs in by name', () => {
    retentionPolicies.register('test-keep-even', (positions) =>
      positions.flatMap((p, i) => (p % 2 === 0 ? [i] : [])),
    );
    const cache = new KVCache({ policy: 'test-keep-even' });
    const kv = tf.zeros([1, 1, 5, 2]) as tf.Tensor4D;
    cache.append(kv, kv, [0, 1, 2, 3, 4]);
    cache.evict();
    expect(cache.positions).toEqual([0, 2, 4]);
    expect(cache.keys!.shape).toEqual([1, 1, 3, 2]);
    kv.dispose();
    cache.dispose();
    expect(() => new KVCache({ policy: 'nope' })).toThrow(RegistryError);
    expect(() => new KVCache({ policy: 'nope' })).toThrow(/options.policy expected one of/);
  });

  it('refuses reorder indices outside the batch', () => {
    const cache = new KVCache();
    const kv = tf.zeros([2, 1, 1, 2]) as tf.Tensor4D;
    cache.append(kv, kv, [0]);
    expect(() => cache.reorder([2])).toThrow(ConfigError);
    kv.dispose();
    cache.dispose();
  });
});

describe('KV-cache seams', () => {
  it('per-KV-head validity masks those keys for the query heads reading that KV head', () => {
    const m = makeMixer({ type: 'gqa', numKvHeads: 2 });
    const x = randomInput(4);
    const head = tf.slice(x, [0, 0, 0], [-1, 3, -1]) as tf.Tensor3D;
    const last = tf.slice(x, [0, 3, 0], [-1, 1, -1]) as tf.Tensor3D;
    const state = m.initState!(2) as KVCache;
    m.forward(head, { state }).dispose();
    // KV head 1 forgets key position 1 in every sequence.
    const valid = tf.tensor3d([1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1], [2, 2, 3], 'bool');
    state.setValid(valid);
    const out = m.forward(last, { state });
    expect(state.valid!.shape).toEqual([2, 2, 4]); // the new key is valid
    // The same step from a fresh cache with an explicit mask on query heads 2, 3 (KV head 1).
    const other = m.initState!(2);
    m.forward(head, { state: other }).dispose();
    const mask = tf.tensor4d(
      [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1].concat([
        1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1,
      ]),
      [2, 4, 1, 4],
      'bool',
    );
    const want = m.forward(last, { state: other, mask });
    expect(maxAbsDiff(out, want)).toBeLessThan(1e-6);
    const unmasked = m.initState!(2);
    m.forward(head, { state: unmasked }).dispose();
    expect(maxAbsDiff(out, m.forward(last, { state: unmasked }))).toBeGreaterThan(1e-4);
    expect(() => state.setValid(tf.ones([2, 2, 9], 'bool') as tf.Tensor3D)).toThrow(
      /KVCache: valid expected a bool tensor of shape \[2,2,4\]/,
    );
    tf.dispose([x, head, last, valid, out, mask, want]);
    [state, other, unmasked].forEach((s) => s.dispose());
    m.dispose();
  });

  it('validity follows eviction and save/restore', async () => {
    const cache = new KVCache({ window: 2 });
    const kv = tf.zeros([1, 1, 3, 2]) as tf.Tensor4D;
    cache.append(kv, kv, [0, 1, 2]);
    const valid = tf.tensor3d([[[true, false, true]]], [1, 1, 3], 'bool');
    cache.setValid(valid);
    cache.evict(); // next query at 3, window 2: keeps position 2 only
    expect(cache.positions).toEqual([2]);
    expect(Array.from(cache.valid!.dataSync())).toEqual([1]);
    const copy = new KVCache({ window: 2 });
    copy.restore(await cache.save());
    expect(Array.from(copy.valid!.dataSync())).toEqual([1]);
    [cache, copy].forEach((s) => s.dispose());
    tf.dispose([kv, valid]);
  });

  it('block summaries are the mean key of each block of kept positions', async () => {
    const cache = new KVCache({ summaryBlock: 2 });
    expect(cache.summaries()).toBeNull();
    const keys = tf.tensor4d([1, 3, 5, 7, 9], [1, 1, 5, 1]);
    cache.append(keys, keys, [0, 1, 2, 3, 4]);
    const s = cache.summaries()!;
    expect(s.blocks).toEqual([0, 1, 2]);
    expectClose(s.means, tf.tensor4d([2, 6, 9], [1, 1, 3, 1]));
    expect(cache.summaries()).toBe(s); // kept until the keys change
    const more = tf.tensor4d([11], [1, 1, 1, 1]);
    cache.append(more, more, [5]);
    expectClose(cache.summaries()!.means, tf.tensor4d([2, 6, 10], [1, 1, 3, 1]));
    await expectNoLeaks(() => {
      cache.reorder([0]);
      cache.summaries();
    });
    cache.dispose();
    tf.dispose([keys, more]);
    expect(() => new KVCache({ summaryBlock: 0 })).toThrow(/options.summaryBlock/);
  });
});
