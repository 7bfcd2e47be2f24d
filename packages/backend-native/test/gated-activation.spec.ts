// Gated activation kernel (csrc/glu.cc) against the composite: on native, @attnkit/core's GLU
// (swiglu, geglu, reglu, glu with gelu-tanh) runs the kernel and its gradient kernel; on cpu the
// same module runs the composite. Outputs and the gradients of the input and every weight agree
// (float32, max abs error <= 1e-4) on odd sizes and size 1; finite differences on native; an
// activation re-registered by a user stays composite; bad input through runKernel and the addon.
import * as tf from '@tensorflow/tfjs-core';
import { GLU, Rng, activations, getActivation } from '@attnkit/core';
import { expectNoLeaks, finiteDifferenceCheck, maxAbsDiff } from '@attnkit/core/testing';
import {
  GATED_ACTIVATION,
  GATED_ACTIVATION_GRAD,
  type GatedActivationOutputs,
} from '@attnkit/kernels';
import { loadAddon } from '../src/addon';
import { rand } from './helpers';
import {
  expectKernelMatchesComposite,
  kernelsRun,
  on,
  thrown,
  valuesAndGrads,
} from './train-helpers';

type Variant = 'swiglu' | 'geglu' | 'reglu';
const CASES: Array<[string, Variant | 'glu', number[], number]> = [
  ['swiglu, size 1', 'swiglu', [1, 1, 1], 1],
  ['swiglu, odd sizes', 'swiglu', [2, 3, 5], 7],
  ['geglu (erf)', 'geglu', [2, 3, 4], 6],
  ['reglu', 'reglu', [3, 5], 9],
  ['glu with gelu-tanh', 'glu', [2, 2, 3], 5],
  ['swiglu over several thread blocks', 'swiglu', [2, 64, 8], 160],
];

/** A GLU module with seeded weights, the same on both backends. */
function module(type: Variant | 'glu', dim: number, hidden: number): GLU {
  const config =
    type === 'glu'
      ? { type, dim, hiddenDim: hidden, activation: 'gelu-tanh', bias: true }
      : { type, dim, hiddenDim: hidden };
  return new GLU(config, { rng: new Rng(7) });
}

describe('gated activation kernel on native', () => {
  it.each(CASES)(
    'matches the composite inside GLU, output and input gradient: %s',
    async (_n, type, shape, hidden) => {
      const dim = shape[shape.length - 1]!;
      const glu = module(type, dim, hidden);
      await expectKernelMatchesComposite(
        (x) => glu.forward(x!),
        () => [tf.mul(rand(shape, 1), 2)],
        [GATED_ACTIVATION, GATED_ACTIVATION_GRAD],
      );
      glu.dispose();
    },
  );

  it.each(['silu', 'gelu', 'gelu-tanh', 'relu'] as const)(
    'runKernel equals act(gate) · up and its gradients: %s',
    async (activation) => {
      const act = getActivation(activation);
      const kernel = (g: tf.Tensor, u: tf.Tensor) =>
        (
          tf
            .engine()
            .runKernel(
              GATED_ACTIVATION,
              { gate: g, up: u },
              { activation },
            ) as GatedActivationOutputs<tf.Tensor>
        )[0];
      const composite = (g: tf.Tensor, u: tf.Tensor) => tf.mul(act(g), u);
      // Gates away from 0, where relu has no derivative.
      const inputs = () => {
        const g = tf.mul(rand([4, 9], 2), 4);
        return [tf.add(g, tf.mul(tf.sign(g), 0.05)), rand([4, 9], 3)];
      };
      const a = await on('native', () => valuesAndGrads(kernel, inputs));
      const b = await on('native', () => valuesAndGrads(composite, inputs));
      b.forEach((e, i) => expect(maxAbsDiff(a[i]!, e)).toBeLessThanOrEqual(1e-4));
    },
  );

  it('passes a finite-difference check on native', async () => {
    await on('native', () => {
      for (const activation of ['silu', 'gelu', 'gelu-tanh']) {
        const xs = [rand([3, 4], 4), rand([3, 4], 5)];
        finiteDifferenceCheck(
          (g, u) =>
            (
              tf
                .engine()
                .runKernel(GATED_ACTIVATION, { gate: g!, up: u! }, { activation }) as tf.Tensor[]
            )[0]!,
          xs,
        );
        tf.dispose(xs);
      }
    });
  });

  it('leaks no tensors, forward and backward', async () => {
    const glu = module('swiglu', 4, 6);
    await on('native', () =>
      expectNoLeaks(() => {
        const x = rand([2, 3, 4], 6);
        const { value, grads } = tf.variableGrads(() => tf.sum(glu.forward(x)) as tf.Scalar);
        tf.dispose([x, value, ...Object.values(grads)]);
      }),
    );
    glu.dispose();
  });

  it('keeps the composite on cpu and for a re-registered activation', async () => {
    const glu = module('swiglu', 4, 6);
    const call = () => void glu.forward(rand([2, 4], 1));
    expect(await kernelsRun('cpu', call)).not.toContain(GATED_ACTIVATION);
    expect(await kernelsRun('native', call)).toContain(GATED_ACTIVATION);
    glu.dispose();
    const original = getActivation('gelu-tanh');
    activations.register('gelu-tanh', (x) => tf.tanh(x), {}, { override: true });
    try {
      const custom = module('glu', 4, 6);
      expect(await kernelsRun('native', () => void custom.forward(rand([2, 4], 1)))).not.toContain(
        GATED_ACTIVATION,
      );
      custom.dispose();
    } finally {
      activations.register('gelu-tanh', original, {}, { override: true });
    }
  });

  it('rejects bad shapes, dtypes and activations through runKernel with a TypeError', async () => {
    await on('native', () => {
      const run = (
        inputs: Record<string, tf.Tensor>,
        activation: unknown = 'silu',
        name: string = GATED_ACTIVATION,
      ) => tf.tidy(() => tf.engine().runKernel(name, inputs, { activation } as tf.NamedAttrMap));
      const g = tf.zeros([2, 3]);
      expect(() => run({ gate: g, up: tf.zeros([3, 2]) })).toThrow(
        /AttnkitGatedActivation: up must be \[2,3\] as gate/,
      );
      expect(() => run({ gate: g, up: tf.zeros([2, 3], 'int32') })).toThrow(/up must be float32/);
      expect(() => run({ gate: g })).toThrow(/up is missing/);
      expect(() => run({ gate: g, up: g }, 'swish')).toThrow(
        /activation must be one of silu, gelu, gelu-tanh, relu/,
      );
      expect(() => run({ gate: g, up: g }, 'silu', GATED_ACTIVATION_GRAD)).toThrow(
        /AttnkitGatedActivationGrad: dy is missing/,
      );
      g.dispose();
    });
  });

  it('its addon entries check every array against the count before touching it', () => {
    const addon = loadAddon() as unknown as Record<string, (...a: unknown[]) => void>;
    for (const [name, arrays] of [
      ['gluForward', 3],
      ['gluBackward', 5],
    ] as const) {
      const call = (sizes: number[], n = 6, act = 0) =>
        thrown(() => addon[name]!(...sizes.map((k) => new Float32Array(k)), n, act));
      const sizes = Array.from({ length: arrays }, () => 6);
      expect(call(sizes)).toBe('nothing');
      for (let i = 0; i < arrays; i++) {
        expect(call(sizes.map((k, j) => (j === i ? k - 1 : k)))).toMatch(/^RangeError: /);
      }
      expect(call(sizes, 6, 4)).toMatch(/^RangeError: /);
      expect(call(sizes, -1)).toMatch(/^RangeError: /);
    }
  });
});
