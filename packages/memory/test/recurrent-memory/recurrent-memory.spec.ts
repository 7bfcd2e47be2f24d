import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  build,
  estimateConfig,
  type Module,
  type PositionalEncoding,
  type TokenMixer,
} from '@attnkit/core';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import '@attnkit/positional';
import '@attnkit/memory';
import type { RecurrentMemory } from '@attnkit/memory';
import { checkGolden, goldenCases } from './golden';

type Mixer = Module & TokenMixer;
const d = 8;
const config = (extra: object = {}) => ({
  type: 'recurrent-memory',
  dModel: d,
  numHeads: 2,
  segmentLength: 4,
  memorySlots: 3,
  ...extra,
});
const input = (t: number, seed = 1, batch = 2) =>
  tf.randomNormal([batch, t, d], 0, 1, 'float32', seed) as tf.Tensor3D;

/**
 * Feeds x `step` tokens at a time through one state, as a stack does (it passes each call's
 * offset: `offset` plus the tokens fed); the outputs concatenated.
 */
function decode(
  m: RecurrentMemory,
  x: tf.Tensor3D,
  step: number,
  context: { positional?: PositionalEncoding; offset?: number } = {},
): tf.Tensor {
  const state = m.initState(x.shape[0]);
  const sizes: number[] = [];
  for (let at = 0; at < x.shape[1]; at += step) sizes.push(Math.min(step, x.shape[1] - at));
  const pieces = tf.split(x, sizes, 1);
  const parts = pieces.map((p, i) => {
    const offset = context.offset === undefined ? undefined : context.offset + i * step;
    return m.forward(p as tf.Tensor3D, { ...context, offset, state });
  });
  state.dispose();
  const out = tf.concat(parts, 1);
  tf.dispose([...pieces, ...parts]);
  return out;
}

/** d sum(y[:, rows] · probe) / dx for the mixer on x. */
function gradOfRows(m: Mixer, x: tf.Tensor3D, from: number, to: number): tf.Tensor {
  return tf.grad((input: tf.Tensor) => {
    const y = m.forward(input as tf.Tensor3D, { causal: true });
    return tf.sum(tf.slice(y, [0, from, 0], [-1, to - from, -1]));
  })(x);
}

describe('recurrent-memory (Bulatov et al. 2022; Kashyap 2025)', () => {
  it.each(goldenCases('recurrent-memory'))(
    '%s: output and input gradient match the PyTorch reference',
    (_name, c) => checkGolden(c),
  );

  it('one segment is plain attention with the memory slots as a key/value prefix', () => {
    const m = build<RecurrentMemory>(config({ numHeads: 4, numKvHeads: 2, segmentLength: 6 }));
    const gqa = build<Mixer>({ type: 'gqa', dModel: d, numHeads: 4, numKvHeads: 2 });
    const weights = { q: m.q, k: m.k, v: m.v, o: m.o };
    gqa.loadStateDict(
      Object.fromEntries(Object.entries(weights).map(([n, l]) => [`${n}.weight`, l.weight])),
    );
    tf.tidy(() => {
      const x = input(5);
      const heads = (t: tf.Tensor) =>
        tf.transpose(tf.reshape(t, [1, 3, 2, 2]), [0, 2, 1, 3]) as tf.Tensor4D;
      const prefix = {
        keys: heads(tf.matMul(m.memory, m.k.weight)),
        values: heads(tf.matMul(m.memory, m.v.weight)),
      };
      const y = m.forward(x, { causal: true });
      expectClose(y, gqa.forward(x, { causal: true, prefix }), { atol: 1e-5 });
      expect(maxAbsDiff(y, gqa.forward(x, { causal: true }))).toBeGreaterThan(1e-3);
    });
    m.dispose();
    gqa.dispose();
  });

  it('carries information across segments only through the memory, and bpttSegments truncates its gradient', () => {
    const full = build<RecurrentMemory>(config({ segmentLength: 3 }));
    const cut = build<RecurrentMemory>(config({ segmentLength: 3, bpttSegments: 1 }));
    const cut2 = build<RecurrentMemory>(config({ segmentLength: 3, bpttSegments: 2 }));
    cut.loadStateDict(full.stateDict());
    cut2.loadStateDict(full.stateDict());
    tf.tidy(() => {
      const x = input(9);
      const firstSegment = (g: tf.Tensor) =>
        tf.max(tf.abs(tf.slice(g, [0, 0, 0], [-1, 3, -1]))).dataSync()[0]!;
      // Truncation changes gradients, not values.
      expectClose(cut.forward(x), full.forward(x), { atol: 1e-6 });
      // Segment 1 reads what segment 0 wrote: a gradient; with bpttSegments 1, none.
      expect(firstSegment(gradOfRows(full, x, 3, 6))).toBeGreaterThan(1e-4);
      expect(firstSegment(gradOfRows(cut, x, 3, 6))).toBe(0);
      // bpttSegments 2 stops the gradient entering segment 2, not segment 1.
      expect(firstSegment(gradOfRows(cut2, x, 3, 6))).toBeGreaterThan(1e-4);
      expect(firstSegment(gradOfRows(cut2, x, 6, 9))).toBe(0);
      expect(firstSegment(gradOfRows(full, x, 6, 9))).toBeGreaterThan(1e-4);
    });
    [full, cut, cut2].forEach((m) => m.dispose());
  });

  it('decoding 1, 3 and 5 tokens at a time with rotary positions and an offset equals the full forward', () => {
    const m = build<RecurrentMemory>(config({ numHeads: 2, qkNorm: 'rms' }));
    const rotary = build<Module & PositionalEncoding>({ type: 'rotary', headDim: 4 });
    tf.tidy(() => {
      const x = input(11);
      const context = { positional: rotary, offset: 5 };
      const full = m.forward(x, { ...context, causal: true });
      // Rotary turns the segment's queries and keys: it changes the output.
      expect(maxAbsDiff(full, m.forward(x, { causal: true, offset: 5 }))).toBeGreaterThan(1e-4);
      for (const step of [1, 3, 5]) {
        expectClose(decode(m, x, step, context), full, { atol: 1e-5 });
      }
    });
    m.dispose();
    rotary.dispose();
  });

  it('holds a state bounded by (memorySlots + segmentLength)·dModel, at 16 tokens as at 1,024', () => {
    const m = build<RecurrentMemory>(config({ segmentLength: 5, memorySlots: 3 }));
    const bytesAfter = (tokens: number) =>
      tf.tidy(() => {
        const state = m.initState(1);
        const x = input(tokens, 2, 1);
        const chunk = 64;
        for (let at = 0; at < tokens; at += chunk) {
          const n = Math.min(chunk, tokens - at);
          m.forward(tf.slice(x, [0, at, 0], [-1, n, -1]) as tf.Tensor3D, { state });
        }
        const { bytes, length } = state;
        state.dispose();
        return { bytes, length };
      });
    const bound = (3 + 5 - 1) * d * 4; // memory slots and at most segmentLength - 1 pending tokens
    const short = bytesAfter(16);
    const long = bytesAfter(1024);
    expect(short.length).toBe(16);
    expect(long.length).toBe(1024);
    // 16 = 3·5 + 1 and 1,024 = 204·5 + 4 tokens: one and four pending tokens.
    expect(short.bytes).toBe((3 + 1) * d * 4);
    expect(long.bytes).toBe((3 + 4) * d * 4);
    expect(long.bytes).toBeLessThanOrEqual(bound);
    m.dispose();
  });

  it('refuses segmentLength or memorySlots <= 0, a mask and a bias encoding with one-line typed errors', () => {
    for (const bad of [
      config({ segmentLength: 0 }),
      config({ segmentLength: -3 }),
      config({ memorySlots: 0 }),
      config({ bpttSegments: 0 }),
    ]) {
      let error: unknown;
      try {
        build(bad).dispose();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).not.toMatch(/\n/);
    }
    expect(() => build(config({ segmentLength: 0 }))).toThrow(/\$\.segmentLength.*> 0.*0/);
    const m = build<RecurrentMemory>(config());
    tf.tidy(() => {
      const x = input(4);
      expect(() => m.forward(x, { mask: tf.ones([1, 1, 4, 4], 'bool') })).toThrow(ConfigError);
      const bias = { kind: 'bias', bias: () => tf.zeros([1]) } as PositionalEncoding;
      expect(() => m.forward(x, { positional: bias })).toThrow(/context\.positional/);
      expect(() => m.forward(x, { causal: false })).toThrow(/causal/);
    });
    m.dispose();
  });

  it('leaks nothing over forward, backward with truncation, and decoding across boundaries', async () => {
    await expectNoLeaks(() => {
      const m = build<RecurrentMemory>(config({ segmentLength: 2, bpttSegments: 2 }));
      const x = input(7);
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      decode(m, x, 3).dispose();
      x.dispose();
      m.dispose();
    });
  });

  it.each([
    config(),
    config({ numHeads: 4, numKvHeads: 2, bias: true }),
    config({ headDim: 3, qkNorm: 'layer', memorySlots: 5 }),
  ])('its estimate equals the parameters it builds (%j)', (c) => {
    const m = build(c);
    expect(estimateConfig(c)!.parameters).toBe(m.numParams());
    m.dispose();
  });
});
