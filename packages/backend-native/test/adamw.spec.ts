import * as tf from '@tensorflow/tfjs-core';
import { expectNoLeaks } from '@attnkit/core/testing';
import { SUM_OF_SQUARES } from '@attnkit/kernels';
import { ADAMW, type AdamWAttrs } from '../src/index';
import { rand } from './helpers';

/** The composite update of @attnkit/models' AdamW, op for op. */
function composite(p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, a: AdamWAttrs) {
  return tf.tidy(() => {
    const c1 = 1 - a.beta1 ** a.step;
    const c2 = 1 - a.beta2 ** a.step;
    if (a.gradScale !== undefined) g = tf.mul(g, a.gradScale);
    const m1 = tf.add(tf.mul(m, a.beta1), tf.mul(g, 1 - a.beta1));
    const v1 = tf.add(tf.mul(v, a.beta2), tf.mul(tf.square(g), 1 - a.beta2));
    let update = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), a.epsilon));
    if (a.weightDecay > 0) update = tf.add(update, tf.mul(p, a.weightDecay));
    return [tf.sub(p, tf.mul(update, a.lr)), m1, v1];
  });
}

function fused(p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, a: AdamWAttrs) {
  const attrs = a as unknown as tf.NamedAttrMap;
  return tf.engine().runKernel(ADAMW, { param: p, m, v, grad: g }, attrs) as tf.Tensor[];
}

describe('AttnkitAdamW (native)', () => {
  it.each([
    [[1], 0.1, undefined],
    [[7, 3], 0, undefined],
    [[65, 64], 0.1, undefined],
    [[300, 300], 0.01, undefined], // threaded
    [[7, 3], 0.1, 0.37], // a clipped gradient
    [[300, 300], 0, 0.81],
  ])(
    'gives the composite bits over 5 steps for %j (weight decay %s, gradScale %s)',
    async (shape, weightDecay, gradScale) => {
      const initial = tf.getBackend();
      let [pc, mc, vc] = [rand(shape, 1), tf.zeros(shape), tf.zeros(shape)];
      let [pn, mn, vn] = [pc.clone(), mc.clone(), vc.clone()];
      for (let step = 1; step <= 5; step++) {
        const g = rand(shape, 10 + step);
        const a = {
          lr: 3e-3,
          beta1: 0.9,
          beta2: 0.95,
          epsilon: 1e-8,
          weightDecay,
          step,
          gradScale,
        };
        await tf.setBackend('cpu');
        const c = composite(pc, mc, vc, g, a);
        await tf.setBackend('native');
        const n = fused(pn, mn, vn, g, a);
        tf.dispose([pc, mc, vc, pn, mn, vn, g]);
        [pc, mc, vc] = c as [tf.Tensor, tf.Tensor, tf.Tensor];
        [pn, mn, vn] = n as [tf.Tensor, tf.Tensor, tf.Tensor];
      }
      for (const [x, y] of [
        [pc, pn],
        [mc, mn],
        [vc, vn],
      ] as const) {
        expect(y.shape).toEqual(x.shape);
        expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
      }
      tf.dispose([pc, mc, vc, pn, mn, vn]);
      await tf.setBackend(initial);
    },
  );

  it('rejects mismatched shapes, dtypes and steps, and leaks nothing', async () => {
    const initial = tf.getBackend();
    await tf.setBackend('native');
    const p = rand([3, 2], 1);
    const a = { lr: 1e-3, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0, step: 1 };
    expect(() => fused(p, p, p, rand([2, 3], 2), a)).toThrow(
      /grad must be float32 of the parameter's shape/,
    );
    expect(() => fused(p, tf.cast(p, 'int32'), p, p, a)).toThrow(/m must be float32/);
    expect(() => fused(p, p, p, p, { ...a, step: 0 })).toThrow(/step must be an integer >= 1/);
    expect(() => fused(p, p, p, p, { ...a, gradScale: -1 })).toThrow(/gradScale must be a finite/);
    await expectNoLeaks(() => {
      tf.dispose(fused(p, p, p, p, a));
    });
    p.dispose();
    await tf.setBackend(initial);
  });
});

describe('AttnkitSumOfSquares (native)', () => {
  const run = (xs: tf.Tensor[]) =>
    (tf.engine().runKernel(SUM_OF_SQUARES, xs as unknown as tf.NamedTensorMap) as tf.Tensor[])[0]!;

  it('sums x² over every tensor, any shapes, empty ones included, in double', async () => {
    const initial = tf.getBackend();
    await tf.setBackend('native');
    const shapes = [[1], [7, 3], [0, 4], [300, 300], [2, 3, 5]];
    const xs = shapes.map((s, i) => rand(s, 20 + i));
    let want = 0;
    for (const x of xs) for (const v of x.dataSync()) want += v * v;
    const total = run(xs);
    expect(total.shape).toEqual([]);
    expect(Math.abs(total.dataSync()[0]! - want) / want).toBeLessThan(1e-6);
    // Same as the composite addN of sums of squares (float32) to float32 precision.
    const composite = tf.addN(xs.map((x) => tf.sum(tf.square(x))));
    expect(Math.abs(total.dataSync()[0]! - composite.dataSync()[0]!) / want).toBeLessThan(1e-5);
    expect(() => run([tf.ones([2], 'int32')])).toThrow(
      /AttnkitSumOfSquares: input 0 must be float32/,
    );
    await expectNoLeaks(() => void tf.dispose(run(xs)));
    tf.dispose([...xs, total, composite]);
    await tf.setBackend(initial);
  });
});
