import * as tf from '@tensorflow/tfjs-core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { AdamW, decaysByDefault } from '@attnkit/models';
import golden from './fixtures/adamw.json';

describe('AdamW', () => {
  it('matches torch.optim.AdamW, decaying matrices but not vectors', () => {
    const params = new Map([
      ['layers.0.w', tf.variable(tf.tensor(golden.initial.w))],
      ['layers.0.norm1.g', tf.variable(tf.tensor(golden.initial.g))],
    ]);
    const opt = new AdamW(params, {
      beta1: golden.beta1,
      beta2: golden.beta2,
      epsilon: golden.eps,
      weightDecay: golden.weightDecay,
    });
    expect(opt.decayedPaths()).toEqual(['layers.0.w']);
    golden.lrs.forEach((lr, i) => {
      const grads = new Map([
        ['layers.0.w', tf.tensor(golden.grads[i]!.w)],
        ['layers.0.norm1.g', tf.tensor(golden.grads[i]!.g)],
      ]);
      opt.step(grads, lr);
      tf.dispose([...grads.values()]);
    });
    expectClose(params.get('layers.0.w')!, golden.final.w, { atol: 1e-5 });
    expectClose(params.get('layers.0.norm1.g')!, golden.final.g, { atol: 1e-5 });
    opt.dispose();
    tf.dispose([...params.values()]);
  });

  it('does not decay norms, biases or vectors', () => {
    const m = tf.variable(tf.zeros([2, 2]));
    const v = tf.variable(tf.zeros([2]));
    expect(decaysByDefault('layers.0.mixer.q.weight', m)).toBe(true);
    expect(decaysByDefault('layers.0.mixer.q.bias', v)).toBe(false);
    expect(decaysByDefault('layers.0.norm1.weight', m)).toBe(false);
    tf.dispose([m, v]);
  });

  it('saves and restores its moments, and leaks nothing', async () => {
    const p = tf.variable(tf.ones([3]));
    const params = new Map([['p', p]]);
    await expectNoLeaks(() => {
      const opt = new AdamW(params);
      const g = tf.tensor([1, 2, 3]);
      opt.step(new Map([['p', g]]), 0.1);
      const copy = Object.fromEntries(
        Object.entries(opt.stateTensors()).map(([k, t]) => [k, tf.clone(t)]),
      );
      const other = new AdamW(params);
      other.loadStateTensors(copy, opt.stepCount);
      expectClose(other.stateTensors()['m.p']!, opt.stateTensors()['m.p']!);
      expect(other.stepCount).toBe(1);
      expect(() => other.loadStateTensors({}, 1)).toThrow(/m\.p/);
      tf.dispose([g, ...Object.values(copy)]);
      opt.dispose();
      other.dispose();
    });
    p.dispose();
  });
});
