import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, build, type Module, type TokenMixer } from '@attnkit/core';
import type { DecoderLM } from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';

const { runDocExample } = require('../../../tools/jest/doc-examples.cjs');
const guide = path.join(__dirname, '../../../docs/guide-mixer.md');

describeWithBlocks('docs/guide-mixer.md', () => {
  beforeAll(async () => {
    await runDocExample(guide, 0, require); // registers 'guide-linear'
  });

  it('writes the mixer in under 80 lines', () => {
    const code = fs.readFileSync(guide, 'utf8').match(/```ts\n([\s\S]*?)```/)![1]!;
    expect(code.trim().split('\n').length).toBeLessThan(80);
  });

  it('runs the contract suite on it as written', async () => {
    const lines: string[] = await runDocExample(guide, 1, require);
    expect(lines).toEqual(['guide-linear passes the mixer contract']);
  });

  it('is causal linear attention: equals the quadratic form with elu + 1, normalised', () => {
    const m = build<Module & TokenMixer>(
      { type: 'guide-linear', dModel: 8, numHeads: 2 },
      { rng: new Rng(1) },
    );
    const x = tf.randomNormal([1, 5, 8], 0, 1, 'float32', 3) as tf.Tensor3D;
    const params = m.stateDict();
    const expected = tf.tidy(() => {
      const qkv = tf.add(
        tf.matMul(tf.reshape(x, [5, 8]), params['qkv.weight']!),
        params['qkv.bias'] ?? 0,
      );
      const heads = (i: number) =>
        tf.transpose(tf.reshape(tf.slice(qkv, [0, 8 * i], [5, 8]), [5, 2, 4]), [1, 0, 2]);
      const phi = (t: tf.Tensor) => tf.add(tf.elu(t), 1);
      const [q, k, v] = [phi(heads(0)), phi(heads(1)), heads(2)];
      const causal = tf.linalg.bandPart(tf.ones([5, 5]), -1, 0);
      const scores = tf.mul(tf.matMul(q, k, false, true), causal);
      const out = tf.div(tf.matMul(scores, v), tf.sum(scores, -1, true)); // [2, 5, 4]
      const merged = tf.reshape(tf.transpose(out, [1, 0, 2]), [5, 8]);
      return tf.add(tf.matMul(merged, params['o.weight']!), params['o.bias'] ?? 0);
    });
    const actual = m.forward(x);
    expect(tf.max(tf.abs(tf.sub(tf.reshape(actual, [5, 8]), expected))).dataSync()[0]).toBeLessThan(
      1e-4,
    );
    tf.dispose([x, expected, actual]);
    m.dispose();
  });

  it('refuses a bad config by its JSON path, and a model that would run it bidirectionally', () => {
    expect(() => build<Module>({ type: 'guide-linear', dModel: 8, numHeads: 3 })).toThrow(
      'guide-linear: $.numHeads expected a divisor of dModel, got 3',
    );
    expect(() =>
      build<DecoderLM>({
        type: 'encoder',
        vocabSize: 11,
        dModel: 8,
        numLayers: 1,
        maxLength: 8,
        positional: { type: 'sinusoidal' },
        block: {
          mixer: { type: 'guide-linear', numHeads: 2 },
          feedForward: { type: 'mlp', hiddenDim: 16 },
        },
      }),
    ).toThrow(ConfigError);
  });
});
