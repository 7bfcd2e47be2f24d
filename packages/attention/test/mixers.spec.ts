import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, ShapeError, build, type IncrementalState } from '@attnkit/core';
import '@attnkit/attention'; // registers the mixers
import type { KVCache, MultiHeadAttention } from '@attnkit/attention';
import { expectClose, expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import { mixerContract } from './helpers';

const x = (t = 6, seed = 1) => tf.randomNormal([2, t, 16], 0, 1, 'float32', seed) as tf.Tensor3D;
const make = (config: Record<string, unknown>, seed = 3) =>
  build<MultiHeadAttention>({ dModel: 16, numHeads: 4, ...config }, { rng: new Rng(seed) });

/** Feeds the sequence one token at a time through a cache and stacks the outputs. */
function decodeStepwise(m: MultiHeadAttention, input: tf.Tensor3D): tf.Tensor {
  const state = m.initState(input.shape[0]);
  const steps: tf.Tensor[] = [];
  for (let i = 0; i < input.shape[1]; i++) {
    const token = tf.slice(input, [0, i, 0], [-1, 1, -1]) as tf.Tensor3D;
    steps.push(m.forward(token, { state }));
    token.dispose();
  }
  state.dispose();
  const out = tf.concat(steps, 1);
  tf.dispose(steps);
  return out;
}

describe('softmax-attention mixers', () => {
  const types: Record<string, unknown>[] = [
    { type: 'mha' },
    { type: 'gqa', numKvHeads: 2 },
    { type: 'mqa' },
    { type: 'sliding-window', window: 3 },
    { type: 'streaming', window: 2, numSinkTokens: 1 },
    { type: 'mha', qkNorm: 'rms', logitSoftcap: 5, sinkLogit: true },
    { type: 'mha', chunkSize: 2 },
  ];

  for (const config of types) {
    it(`${JSON.stringify(config)}: cached decoding equals the full causal forward`, () => {
      const m = make(config);
      const input = x(7);
      expect(maxAbsDiff(decodeStepwise(m, input), m.forward(input))).toBeLessThan(1e-4);
      m.dispose();
    });
  }

  it('the window cache stays bounded (ring buffer) and keeps the sinks', () => {
    const m = make({ type: 'streaming', window: 2, numSinkTokens: 1 });
    const state = m.initState(2) as KVCache;
    const input = x(6);
    for (let i = 0; i < 6; i++)
      m.forward(tf.slice(input, [0, i, 0], [-1, 1, -1]) as tf.Tensor3D, { state });
    expect(state.positions).toEqual([0, 5]);
    expect(state.keys!.shape[2]).toBe(2);
    state.dispose();
    m.dispose();
  });

  it('streaming attends to its sink tokens past the window (StreamingLLM), unlike sliding-window', () => {
    const input = x(6);
    const streaming = make({ type: 'streaming', window: 2, numSinkTokens: 1 });
    const sliding = make({ type: 'sliding-window', window: 2 });
    const mha = make({ type: 'mha' });
    // Keys visible to query i: i-1, i and the sink 0.
    const keep = tf.tensor2d(
      Array.from({ length: 36 }, (_, n) => {
        const [i, j] = [Math.floor(n / 6), n % 6];
        return j <= i && (i - j < 2 || j === 0) ? 1 : 0;
      }),
      [6, 6],
      'bool',
    );
    expectClose(streaming.forward(input), mha.forward(input, { mask: keep }), { atol: 1e-5 });
    expect(maxAbsDiff(streaming.forward(input), sliding.forward(input))).toBeGreaterThan(1e-3);
    [streaming, sliding, mha].forEach((m) => m.dispose());
  });

  it('GQA with numKvHeads == numHeads is MHA; MQA is GQA with one head', () => {
    const input = x();
    const mha = make({ type: 'mha' });
    const gqa = make({ type: 'gqa', numKvHeads: 4 });
    expectClose(gqa.forward(input), mha.forward(input), { atol: 1e-6 });
    const mqa = make({ type: 'mqa' }, 5);
    const gqa1 = make({ type: 'gqa', numKvHeads: 1 }, 5);
    expectClose(mqa.forward(input), gqa1.forward(input), { atol: 1e-6 });
    expect(mqa.k.config.outFeatures).toBe(4);
    [mha, gqa, mqa, gqa1].forEach((m) => m.dispose());
  });

  it('is causal: later tokens do not change earlier outputs', () => {
    const m = make({ type: 'mha' });
    const a = x(5, 1);
    const b = tf.concat(
      [tf.slice(a, [0, 0, 0], [-1, 3, -1]), tf.randomNormal([2, 2, 16])],
      1,
    ) as tf.Tensor3D;
    expectClose(
      tf.slice(m.forward(b), [0, 0, 0], [-1, 3, -1]),
      tf.slice(m.forward(a), [0, 0, 0], [-1, 3, -1]),
      { atol: 1e-6 },
    );
    m.dispose();
  });

  it('cross-attention reads keys and values from the memory', () => {
    const m = make({ type: 'cross-attention' });
    const memory = x(4, 9);
    const out = m.forward(x(3), { memory });
    expect(out.shape).toEqual([2, 3, 16]);
    expect(() => m.forward(x(3))).toThrow(/context.memory/);
    m.dispose();
  });

  it('segment ids keep attention within each segment (Block-Attention)', () => {
    const m = make({ type: 'mha', causal: false });
    const input = x(4);
    const segmentIds = tf.tensor2d([0, 0, 1, 1, 0, 0, 1, 1], [2, 4], 'int32');
    const whole = m.forward(input, { segmentIds });
    const firstHalf = m.forward(tf.slice(input, [0, 0, 0], [-1, 2, -1]) as tf.Tensor3D);
    expectClose(tf.slice(whole, [0, 0, 0], [-1, 2, -1]), firstHalf, { atol: 1e-6 });
    m.dispose();
  });

  it('hands per-head weights to the hook and frees them', async () => {
    const m = make({ type: 'mha' });
    const input = x(3);
    const seen: number[][] = [];
    await expectNoLeaks(() => {
      m.forward(input, { attentionHook: ({ weights }) => seen.push(weights.shape) }).dispose();
    });
    expect(seen).toEqual([[2, 4, 3, 3]]);
    m.dispose();
  });

  it('uses the positional encoding from the context (rotate and bias)', () => {
    const m = make({ type: 'mha' });
    const input = x(4);
    const calls: string[] = [];
    const rotate = (t: tf.Tensor4D) => {
      calls.push('rotate');
      return tf.mul(t, 1) as tf.Tensor4D;
    };
    const bias = (qp: tf.Tensor1D, kp: tf.Tensor1D) => {
      calls.push('bias');
      return tf.mul(tf.abs(tf.sub(tf.reshape(qp, [-1, 1]), tf.reshape(kp, [1, -1]))), -1);
    };
    const withBias = m.forward(input, { positional: { kind: 'bias', bias } });
    m.forward(input, { positional: { kind: 'rotate', rotate } });
    expect(calls).toEqual(['bias', 'rotate', 'rotate']);
    expect(maxAbsDiff(withBias, m.forward(input))).toBeGreaterThan(1e-3);
    m.dispose();
  });

  it('has gradients for every parameter', () => {
    const m = make({ type: 'gqa', numKvHeads: 2, qkNorm: 'layer', sinkLogit: true, bias: true });
    const input = x(3);
    const { grads, value } = tf.variableGrads(
      () => tf.sum(tf.square(m.forward(input))) as tf.Scalar,
    );
    for (const v of m.parameters()) expect(grads[v.name]).toBeDefined();
    expect(Math.max(...Array.from(tf.abs(grads[m.sink!.name]!).dataSync()))).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads)]);
    m.dispose();
  });

  it('rejects bad configs and inputs with the block, argument and values', () => {
    expect(() => make({ type: 'gqa', numKvHeads: 3 })).toThrow(
      'gqa: $.numKvHeads expected a divisor of numHeads=4, got 3',
    );
    expect(() => make({ type: 'mha', numHeads: 3 })).toThrow(
      /numHeads expected a divisor of dModel=16/,
    );
    expect(() => make({ type: 'sliding-window', window: 0 })).toThrow(/\$\.window/);
    expect(() => make({ type: 'sliding-window' })).toThrow(/\$\.window/);
    expect(() => make({ type: 'mqa', numKvHeads: 2 })).toThrow(/unknown option 'numKvHeads'/);
    expect(() => make({ type: 'streaming', window: 2 })).toThrow(/numSinkTokens/);
    const m = make({ type: 'mha' });
    expect(() => m.forward(tf.zeros([2, 3, 8]) as tf.Tensor3D)).toThrow(ShapeError);
    expect(() => m.forward(tf.zeros([2, 3]) as unknown as tf.Tensor3D)).toThrow(/rank 3/);
    expect(() =>
      m.forward(x(2), { state: { length: 0, dispose() {} } as unknown as IncrementalState }),
    ).toThrow(ConfigError);
    m.dispose();
  });

  it('leaks nothing over forward, backward, decoding and dispose', async () => {
    await expectNoLeaks(() => {
      const m = make({ type: 'streaming', window: 2, numSinkTokens: 1, chunkSize: 2 });
      const input = x(4);
      const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(input)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      decodeStepwise(m, input).dispose();
      input.dispose();
      m.dispose();
    });
  });

  describe('contract of every type (forward, causality, decoding by 1 and 3, gradients, leaks)', () => {
    mixerContract({ type: 'mha' });
    mixerContract({ type: 'gqa', numKvHeads: 2, bias: true });
    mixerContract({ type: 'mqa', qkNorm: 'l2' });
    mixerContract({ type: 'sliding-window', window: 3, sinkLogit: true });
    mixerContract({ type: 'streaming', window: 2, numSinkTokens: 1, chunkSize: 3 });
  });

  it('cross-attention: gradients for every parameter and the memory, no leaks, bad memory', async () => {
    const m = make({ type: 'cross-attention' });
    const memory = x(4, 9);
    const input = x(3);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.square(m.forward(input, { memory }))) as tf.Scalar,
    );
    for (const [name, v] of m.namedParameters()) {
      expect([name, tf.max(tf.abs(grads[v.name]!)).dataSync()[0]! > 0]).toEqual([name, true]);
    }
    tf.dispose([value, ...Object.values(grads)]);
    const dMemory = tf.grad((mem: tf.Tensor) =>
      tf.sum(m.forward(input, { memory: mem as tf.Tensor3D })),
    )(memory);
    expect(dMemory.shape).toEqual([2, 4, 16]);
    await expectNoLeaks(() => {
      const { value: v2, grads: g2 } = tf.variableGrads(
        () => tf.sum(m.forward(input, { memory })) as tf.Scalar,
      );
      tf.dispose([v2, ...Object.values(g2)]);
    });
    expect(() => m.forward(input, { memory: tf.zeros([2, 4]) as unknown as tf.Tensor3D })).toThrow(
      'cross-attention: context.memory expected rank 3, got rank 2 [2,4]',
    );
    expect(() => m.forward(input, { memory: tf.zeros([2, 4, 8]) as tf.Tensor3D })).toThrow(
      'cross-attention: context.memory expected shape [2,time,16], got shape [2,4,8]',
    );
    m.dispose();
  });
});
