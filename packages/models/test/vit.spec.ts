import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build, loadModule, saveModule } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import type { PatchEmbedding, ViT, VitConfig } from '@attnkit/models';
import { getPreset, listPresets } from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';
import { expectGradientToEveryParameter } from './gradients';
import { mhaBlock } from './helpers';

const config = (extra: Partial<VitConfig> = {}): VitConfig => ({
  type: 'vit',
  imageSize: 8,
  patchSize: 4,
  channels: 2,
  dModel: 8,
  numLayers: 2,
  numClasses: 3,
  block: mhaBlock,
  ...extra,
});
const make = (extra: Partial<VitConfig> = {}) => build<ViT>(config(extra), { rng: new Rng(5) });
const images = (batch = 2, size = 8, channels = 2) =>
  tf.tensor4d(
    Array.from({ length: batch * size * size * channels }, (_, i) => Math.sin(i * 0.37)),
    [batch, size, size, channels],
  );

describeWithBlocks('PatchEmbedding', () => {
  it('equals a PxP convolution with stride P', () => {
    const patch = build<PatchEmbedding>(
      { type: 'patch-embedding', imageSize: 8, patchSize: 4, channels: 2, dModel: 5 },
      { rng: new Rng(1) },
    );
    const x = images();
    const filter = tf.reshape(patch.projection.weight, [4, 4, 2, 5]) as tf.Tensor4D;
    const conv = tf.add(tf.conv2d(x, filter, 4, 'valid'), patch.projection.bias!);
    expectClose(patch.forward(x), tf.reshape(conv, [2, 4, 5]), { atol: 1e-5 });
    expect(patch.numPatches).toBe(4);
    expect(() => patch.forward(images(1, 6))).toThrow(/patch-embedding: images/);
    expect(() => build({ type: 'patch-embedding', imageSize: 8, patchSize: 3, dModel: 4 })).toThrow(
      /patchSize.*divisor of imageSize=8/,
    );
    patch.dispose();
  });
});

describeWithBlocks('ViT', () => {
  it('classifies images with cls, mean or latent pooling', () => {
    const x = images();
    for (const pooling of ['cls', 'mean', 'latent'] as const) {
      const model = make({ pooling, latent: { numLatents: 3, numHeads: 2 } });
      expect(model.forward(x).shape).toEqual([2, 3]);
      expect(model.hidden(x).shape).toEqual([2, pooling === 'cls' ? 5 : 4, 8]);
      expect(model.embed(x).shape).toEqual([2, 8]);
      model.dispose();
    }
  });

  it('adds 2-D sinusoidal positions by default and learned ones on request', () => {
    const sinusoidal = make();
    expect(sinusoidal.positional.config).toMatchObject({ type: 'sinusoidal-2d', gridWidth: 2 });
    const learned = make({ positional: { type: 'learned' } });
    expect(learned.namedParameters().get('positional.weight')!.shape).toEqual([4, 8]);
    // Positions matter: swapping two patches changes the class token's output.
    const x = images(1);
    const swapped = tf.concat(
      [tf.slice(x, [0, 0, 4, 0], [1, 8, 4, 2]), tf.slice(x, [0, 0, 0, 0], [1, 8, 4, 2])],
      2,
    ) as tf.Tensor4D;
    for (const model of [sinusoidal, learned]) {
      const a = Array.from(model.forward(x).dataSync());
      expect(a).not.toEqual(Array.from(model.forward(swapped).dataSync()));
      model.dispose();
    }
  });

  it('sends a gradient to every parameter and leaks nothing', async () => {
    const x = images(1);
    await expectNoLeaks(() => {
      const model = make({ positional: { type: 'learned' } });
      expectGradientToEveryParameter(model, () => tf.sum(tf.square(model.forward(x))) as tf.Scalar);
      model.dispose();
    });
    x.dispose();
  });

  it('rejects bad images and configs, naming the argument or JSON path', () => {
    const model = make();
    expect(() => model.forward(images(1, 8, 3))).toThrow(/images/);
    expect(() => model.forward(tf.zeros([8, 8, 2]) as never)).toThrow(/images expected shape/);
    model.dispose();
    expect(() => make({ patchSize: 3 })).toThrow(/patchSize/);
    expect(() => make({ pooling: 'last' as never })).toThrow(/\$\.pooling/);
    expect(() => make({ positional: { type: 'learned', dim: 4 } })).toThrow(/positional/);
    expect(() =>
      make({ block: { mixer: { type: 'mha' }, feedForward: { type: 'mlp' } } } as never),
    ).toThrow(/\$\.block\.mixer\.numHeads/);
  });

  it('saves and loads through saveModule/loadModule with identical outputs', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-vit-'));
    const model = make({ positional: { type: 'learned' } });
    await saveModule(dir, model);
    const back = await loadModule<ViT>(dir);
    const x = images(1);
    expectClose(back.forward(x), model.forward(x), { atol: 0 });
    model.dispose();
    back.dispose();
  });

  it('builds vit-tiny (and moh-vit-tiny when routing registers moh)', () => {
    const names = ['vit-tiny', ...listPresets().filter((n) => n === 'moh-vit-tiny')];
    for (const name of names) {
      const model = build<ViT>(getPreset(name), { rng: new Rng(0) });
      expect(model.forward(tf.zeros([1, 32, 32, 3]) as tf.Tensor4D).shape).toEqual([1, 10]);
      model.dispose();
    }
  });
});
