import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build, loadModule, saveModule } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import type { Encoder, EncoderConfig } from '@attnkit/models';
import { getPreset } from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';
import { expectGradientToEveryParameter } from './gradients';
import { ids, mhaBlock } from './helpers';

const config = (extra: Partial<EncoderConfig> = {}): EncoderConfig => ({
  type: 'encoder',
  vocabSize: 13,
  dModel: 8,
  numLayers: 2,
  maxLength: 8,
  positional: { type: 'learned' },
  block: mhaBlock,
  ...extra,
});
const make = (extra: Partial<EncoderConfig> = {}) =>
  build<Encoder>(config(extra), { rng: new Rng(3) });
const rowOf = (t: tf.Tensor, i: number) =>
  Array.from(tf.slice(t, [i, 0], [1, t.shape[1]!]).dataSync());

describeWithBlocks('Encoder', () => {
  it('is bidirectional: a later token changes earlier states', () => {
    const model = make();
    const a = model.hidden(ids([[1, 2, 3, 4]]));
    const b = model.hidden(ids([[1, 2, 3, 9]]));
    expect(a.shape).toEqual([1, 4, 8]);
    const first = (t: tf.Tensor) => Array.from(tf.slice(t, [0, 0, 0], [1, 1, 8]).dataSync());
    expect(first(a)).not.toEqual(first(b));
    model.dispose();
  });

  it('pools by cls, mean, last and latent attention, and classifies', () => {
    const input = ids([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    for (const pooling of ['cls', 'mean', 'last', 'latent'] as const) {
      const model = make({ pooling, numClasses: 3, latent: { numLatents: 5, numHeads: 2 } });
      expect(model.forward(input).shape).toEqual([2, 3]);
      const pooled = model.embed(input);
      expect(pooled.shape).toEqual([2, 8]);
      const h = model.hidden(input);
      if (pooling === 'cls')
        expectClose(pooled, tf.squeeze(tf.slice(h, [0, 0, 0], [2, 1, 8]), [1]));
      if (pooling === 'mean') expectClose(pooled, tf.mean(h, 1));
      if (pooling === 'last')
        expectClose(pooled, tf.squeeze(tf.slice(h, [0, 3, 0], [2, 1, 8]), [1]));
      model.dispose();
    }
    const plain = make({ pooling: 'mean' });
    expect(plain.forward(input).shape).toEqual([2, 8]);
    plain.dispose();
  });

  it('ignores padding: a padded batch pools like the unpadded sequences', () => {
    for (const pooling of ['cls', 'mean', 'last', 'latent'] as const) {
      const model = make({ pooling, latent: { numLatents: 4, numHeads: 2 } });
      const padded = model.embed(
        ids([
          [1, 2, 3, 0, 0],
          [4, 5, 6, 7, 8],
        ]),
        {
          mask: tf.tensor2d([
            [1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1],
          ]),
        },
      );
      const short = model.embed(ids([[1, 2, 3]]));
      const full = model.embed(ids([[4, 5, 6, 7, 8]]));
      expectClose(rowOf(padded, 0), rowOf(short, 0), { atol: 1e-5 });
      expectClose(rowOf(padded, 1), rowOf(full, 0), { atol: 1e-5 });
      model.dispose();
    }
  });

  it('sends a gradient to every parameter', () => {
    const model = make({
      pooling: 'latent',
      numClasses: 2,
      latent: { numLatents: 3, numHeads: 2 },
    });
    const input = ids([[1, 2, 3, 4]]);
    expectGradientToEveryParameter(
      model,
      () => tf.sum(tf.square(model.forward(input, { training: true }))) as tf.Scalar,
    );
    input.dispose();
    model.dispose();
  });

  it('leaks nothing through forward, backward and dispose', async () => {
    await expectNoLeaks(() => {
      const model = make({
        pooling: 'latent',
        numClasses: 2,
        latent: { numLatents: 3, numHeads: 2 },
      });
      const input = ids([[1, 2, 3]]);
      const mask = tf.tensor2d([[1, 1, 0]]);
      tf.tidy(() => {
        model.forward(input, { mask });
      });
      const g = tf.variableGrads(
        () => tf.mean(model.forward(input, { mask })) as tf.Scalar,
        model.parameters(),
      );
      tf.dispose([input, mask, g.value, ...Object.values(g.grads)]);
      model.dispose();
    });
  });

  it('rejects bad inputs and configs, naming the argument or JSON path', () => {
    const model = make();
    expect(() => model.forward(tf.tensor2d([[1, 2]], [1, 2], 'float32') as tf.Tensor2D)).toThrow(
      /encoder: ids/,
    );
    expect(() => model.forward(ids([[1, 2, 3, 4, 5, 6, 7, 8, 9]]))).toThrow(/maxLength=8/);
    expect(() => model.forward(ids([[1, 2]]), { mask: tf.tensor2d([[1, 1, 1]]) })).toThrow(
      /options\.mask.*\[1,2\]/,
    );
    model.dispose();
    expect(() => make({ pooling: 'max' as never })).toThrow(/\$\.pooling/);
    expect(() => make({ latent: { numHeads: 0 }, pooling: 'latent' })).toThrow(
      /\$\.latent\.numHeads/,
    );
    expect(() =>
      make({ layerOverrides: { 1: { mixer: { type: 'mha', numHeads: 2, colour: 1 } } } }),
    ).toThrow(/\$\.layerOverrides\.1\.mixer/);
    expect(() => make({ numClasses: 0 })).toThrow(/\$\.numClasses/);
  });

  it('saves and loads through saveModule/loadModule with identical outputs', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-encoder-'));
    const model = make({
      pooling: 'latent',
      numClasses: 2,
      latent: { numLatents: 3, numHeads: 2 },
    });
    await saveModule(dir, model);
    const back = await loadModule<Encoder>(dir, { rng: new Rng(99) });
    const input = ids([[3, 1, 4, 1]]);
    expectClose(back.forward(input), model.forward(input), { atol: 0 });
    model.dispose();
    back.dispose();
  });

  it('builds the bert-tiny preset', () => {
    const model = build<Encoder>(getPreset('bert-tiny'), { rng: new Rng(0) });
    expect(model.forward(ids([[1, 5, 9, 2]])).shape).toEqual([1, 2]);
    expect(model.finalNorm).toBeUndefined(); // post-norm blocks end normalised already
    model.dispose();
  });
});
