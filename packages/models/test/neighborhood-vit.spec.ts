import * as tf from '@tensorflow/tfjs-core';
import { Rng, ShapeError, build } from '@attnkit/core';
import { getPreset, type ViT } from '@attnkit/models';

describe('neighborhood-vit-tiny preset (NA over the 4×4 patch grid)', () => {
  it('builds, classifies, and a few Adam steps lower the loss on a fixed batch', () => {
    const model = build<ViT>(getPreset('neighborhood-vit-tiny'), { rng: new Rng(0) });
    const images = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const labels = tf.oneHot(tf.tensor1d([1, 3], 'int32'), 10);
    expect(model.forward(images).shape).toEqual([2, 10]);
    const loss = () =>
      tf.tidy(() => tf.losses.softmaxCrossEntropy(labels, model.forward(images)) as tf.Scalar);
    const first = loss().dataSync()[0]!;
    const adam = tf.train.adam(3e-3);
    for (let step = 0; step < 2; step++) adam.minimize(loss, false, model.parameters());
    expect(loss().dataSync()[0]!).toBeLessThan(first);
    adam.dispose();
    tf.dispose([images, labels]);
    model.dispose();
  });

  it('a grid that does not match the patches is refused, naming it', () => {
    const config = getPreset('neighborhood-vit-tiny') as unknown as {
      block: { mixer: { grid: number[] } };
    };
    config.block.mixer.grid = [3, 3];
    const model = build<ViT>(config, { rng: new Rng(0) });
    const images = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    expect(() => model.forward(images)).toThrow(ShapeError);
    expect(() => model.forward(images)).toThrow(/x expected 9 tokens \(grid 3×3\), got 16 tokens/);
    images.dispose();
    model.dispose();
  });
});
