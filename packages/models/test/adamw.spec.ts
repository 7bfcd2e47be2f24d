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

  it('scales every gradient by gradScale first: the same bits as stepping on scaled copies', () => {
    const make = () =>
      new Map([
        [
          'w',
          tf.variable(
            tf.tensor([
              [0.5, -1],
              [2, 0.25],
            ]),
          ),
        ],
      ]);
    const [a, b] = [make(), make()];
    const [optA, optB] = [new AdamW(a), new AdamW(b)];
    for (let i = 0; i < 3; i++) {
      const g = tf.tensor([
        [0.3 + i, -2],
        [1.5, 0.7 * i],
      ]);
      const scaled = tf.mul(g, 0.37);
      optA.step(new Map([['w', g]]), 0.01, { gradScale: 0.37 });
      optB.step(new Map([['w', scaled]]), 0.01);
      tf.dispose([g, scaled]);
    }
    expect(Array.from(a.get('w')!.dataSync())).toEqual(Array.from(b.get('w')!.dataSync()));
    expect(() => optA.step(new Map(), 0.01, { gradScale: -1 })).toThrow(/AdamW.*gradScale/);
    [optA, optB].forEach((o) => o.dispose());
    tf.dispose([...a.values(), ...b.values()]);
  });
});
