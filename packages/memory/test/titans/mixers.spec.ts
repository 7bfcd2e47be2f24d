import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  Rng,
  build,
  estimateConfig,
  type Module,
  type TokenMixer,
} from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { NeuralMemory, NeuralMemoryState, TitansMac, applyMemory } from '../../src';

type Mixer = Module & TokenMixer;
const make = (config: Record<string, unknown>) =>
  build<Mixer>({ dModel: 8, numHeads: 2, ...config } as unknown as { type: string }, {
    rng: new Rng(3),
  });
const input = (t: number, seed = 1) =>
  tf.randomNormal([2, t, 8], 0, 1, 'float32', seed) as tf.Tensor3D;

describe('neural-memory and the Titans mixers', () => {
  it('learning rate 0 without forgetting: the memory is the fixed MLP M_0 (same output for any history)', () => {
    const m = make({
      type: 'neural-memory',
      learningRate: 0,
      forgetGate: false,
      chunkSize: 2,
    }) as NeuralMemory;
    try {
      tf.tidy(() => {
        const x = input(6);
        const y = m.forward(x);
        // With no update, y_t = W_o · M_0(q_t) for every token: reversing the history changes nothing.
        const reversed = m.forward(tf.reverse(x, 1) as tf.Tensor3D);
        expectClose(tf.reverse(reversed, 1), y, { atol: 1e-5 });
        const { heads, headDim, model } = m.setup;
        const q = tf.transpose(tf.reshape(m.q.forward(x), [2, 6, heads, headDim]), [0, 2, 1, 3]);
        const s = tf.mul(q, tf.sigmoid(q));
        const qn = tf.mul(s, tf.rsqrt(tf.add(tf.sum(tf.square(s), -1, true), 1e-6)));
        const w = m.init.map((p) => tf.tile(tf.expandDims(p, 0), [2, 1, 1, 1]));
        const fixed = applyMemory(model, w, qn);
        const merged = tf.reshape(tf.transpose(fixed, [0, 2, 1, 3]), [2, 6, heads * headDim]);
        expectClose(y, m.o.forward(merged), { atol: 1e-5 });
      });
    } finally {
      m.dispose();
    }
  });

  it('with a learning rate the memory depends on what it has read', () => {
    const m = make({ type: 'neural-memory', chunkSize: 2, learningRate: 1 });
    try {
      tf.tidy(() => {
        const x = input(6);
        const other = tf.concat([input(3, 9), tf.slice(x, [0, 3, 0], [-1, 3, -1])], 1);
        const tail = (y: tf.Tensor) => tf.slice(y, [0, 3, 0], [-1, 3, -1]);
        expect(
          maxAbsDiff(tail(m.forward(x)), tail(m.forward(other as tf.Tensor3D))),
        ).toBeGreaterThan(1e-4);
      });
    } finally {
      m.dispose();
    }
  });

  it('1,000 test-time updates leak no tensor and keep a constant state size', async () => {
    // One head of width 4 keeps the thousand calls quick; the state is the whole MLP memory.
    const m = make({ type: 'neural-memory', dModel: 4, numHeads: 1, chunkSize: 4 });
    const x = tf.randomNormal([1, 1, 4], 0, 1, 'float32', 2) as tf.Tensor3D;
    try {
      const state = m.initState!(1) as NeuralMemoryState;
      m.forward(x, { state }).dispose();
      const bytes = state.bytes;
      await expectNoLeaks(() => {
        for (let i = 0; i < 1000; i++) m.forward(x, { state }).dispose();
      });
      expect(state.length).toBe(1001);
      expect(state.bytes).toBe(bytes);
      state.dispose();
    } finally {
      x.dispose();
      m.dispose();
    }
  });

  it.each(['neural-memory', 'titans-mac', 'titans-mag', 'titans-mal'])(
    '%s: the state saves, restores and disposes like a KV cache',
    async (type) => {
      const extra = type === 'neural-memory' ? {} : { persistentTokens: 2 };
      const m = make({
        type,
        chunkSize: 3,
        ...extra,
        ...(type.match(/ma[gl]$/) ? { window: 3 } : {}),
      });
      const x = input(5);
      try {
        await expectNoLeaks(async () => {
          const state = m.initState!(2);
          const head = tf.slice(x, [0, 0, 0], [-1, 4, -1]) as tf.Tensor3D;
          const last = tf.slice(x, [0, 4, 0], [-1, 1, -1]) as tf.Tensor3D;
          m.forward(head, { state }).dispose();
          const copy = m.initState!(2);
          copy.restore(await state.save());
          expect(copy.length).toBe(4);
          expect(Object.keys(copy.tensors()).sort()).toEqual(Object.keys(state.tensors()).sort());
          const a = m.forward(last, { state });
          const b = m.forward(last, { state: copy });
          expect(maxAbsDiff(a, b)).toBe(0);
          tf.dispose([a, b, head, last]);
          state.dispose();
          copy.dispose();
        });
      } finally {
        x.dispose();
        m.dispose();
      }
    },
  );

  it('a state of another mixer is refused with a typed error', () => {
    const mac = make({ type: 'titans-mac', chunkSize: 2 }) as TitansMac;
    const memory = make({ type: 'neural-memory' });
    const state = memory.initState!(2);
    try {
      expect(() => tf.tidy(() => mac.forward(input(2), { state }))).toThrow(ConfigError);
    } finally {
      state.dispose();
      mac.dispose();
      memory.dispose();
    }
  });

  it.each([
    [{ type: 'neural-memory', chunkSize: 0 }, /chunkSize/],
    [{ type: 'neural-memory', chunkSize: -1 }, /chunkSize/],
    [{ type: 'neural-memory', memoryDepth: 0 }, /memoryDepth/],
    [{ type: 'neural-memory', memoryModel: 'mlp', memoryDepth: 1 }, /memoryDepth.*>= 2/],
    [{ type: 'titans-mac', chunkSize: 0 }, /chunkSize/],
    [{ type: 'titans-mag', window: 4, memoryDepth: 0 }, /memoryDepth/],
    [{ type: 'titans-mal' }, /window/],
    [{ type: 'neural-memory', p: 1 }, /\bp\b/],
    [{ type: 'neural-memory', miras: 'hopfield' }, /miras/],
  ])('refuses %j with a typed one-line error', (config, pattern) => {
    let error: unknown;
    try {
      make(config).dispose();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(String((error as Error).message)).toMatch(pattern);
    expect(String((error as Error).message)).not.toContain('\n');
  });

  it.each([
    { type: 'neural-memory', memoryModel: 'swiglu', memoryHidden: 6, momentum: false },
    { type: 'neural-memory', memoryModel: 'linear', forgetGate: false, headDim: 3 },
    { type: 'neural-memory', memoryDepth: 3, miras: 'memora' },
    { type: 'titans-mac', persistentTokens: 0, memoryModel: 'swiglu' },
    { type: 'titans-mag', window: 2, persistentTokens: 5, momentum: false },
    { type: 'titans-mal', window: 2, memoryModel: 'linear' },
  ])('the estimate of %j equals the parameters it builds', (config) => {
    const m = make(config);
    try {
      const full = { dModel: 8, numHeads: 2, ...config } as unknown as { type: string };
      expect(estimateConfig(full)?.parameters).toBe(m.numParams());
    } finally {
      m.dispose();
    }
  });

  it.each(['moneta', 'yaad', 'memora'] as const)(
    'the %s preset is a choice on the same module: it trains (finite, non-zero gradients)',
    (miras) => {
      const m = make({ type: 'titans-mag', window: 3, chunkSize: 2, miras });
      const plain = make({ type: 'titans-mag', window: 3, chunkSize: 2 });
      try {
        tf.tidy(() => {
          const x = input(5);
          expect(maxAbsDiff(m.forward(x), plain.forward(x))).toBeGreaterThan(1e-5);
          const { value, grads } = tf.variableGrads(
            () => tf.sum(tf.square(m.forward(x))) as tf.Scalar,
          );
          expect(Number.isFinite(value.dataSync()[0])).toBe(true);
          for (const g of Object.values(grads))
            expect(tf.all(tf.isFinite(g)).dataSync()[0]).toBe(1);
        });
      } finally {
        m.dispose();
        plain.dispose();
      }
    },
  );
});
