import * as tf from '@tensorflow/tfjs-core';
import { causalConv1d, linearRecurrence, logSumExpScan } from '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';

// Fixture: tools/reference/attention/scan_reference.py (plain loops in PyTorch).
type Case = Record<string, unknown> & { name: string };
const fixture: Record<string, Case[]> = require('../fixtures/scan.json');
const tol = { atol: 3e-5, rtol: 1e-4 };
const tensor = (c: Case, key: string, shape: number[]) => tf.tensor(c[key] as number[], shape);
/** Compares with the fixture's flat values (same size; the shape is the tensor's). */
const close = (actual: tf.Tensor, expected: unknown) =>
  expectClose(actual, tf.tensor(expected as number[], actual.shape), tol);
const stateShape = (shape: number[]) => [shape[0]!, ...shape.slice(2)];

describe('linearRecurrence against PyTorch', () => {
  for (const c of fixture.linearRecurrence!) {
    const aShape = c.aShape as number[];
    const bShape = c.bShape as number[];
    const forms = c.name === 'signed-a' ? ['sequential'] : ['sequential', 'chunk'];
    for (const form of forms as ('sequential' | 'chunk')[]) {
      it(`${c.name} (${form}): output and gradients for a, b and h0`, () => {
        tf.tidy(() => {
          const a = tensor(c, 'a', aShape);
          const b = tensor(c, 'b', bShape);
          const h0 = tensor(c, 'h0', stateShape(bShape));
          const probe = tensor(c, 'probe', bShape);
          const run = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
            linearRecurrence(x, y, {
              form,
              chunkSize: 3,
              initialState: c.initialState ? z : undefined,
            }).output;
          close(run(a, b, h0), c.output);
          // Without an initial state h0 is not an input: no gradient for it.
          const inputs = c.initialState ? [a, b, h0] : [a, b];
          const [ga, gb, gh] = tf.grads((x, y, z) => tf.sum(tf.mul(run(x!, y!, z ?? h0), probe)))(
            inputs,
          );
          close(ga!, c.grad_a);
          close(gb!, c.grad_b);
          if (c.initialState) close(gh!, c.grad_h0);
        });
      });
    }
  }
});

describe('logSumExpScan against PyTorch', () => {
  for (const c of fixture.logSumExpScan!) {
    const sShape = c.scoresShape as number[];
    const vShape = c.valuesShape as number[];
    const stats = stateShape(sShape);
    for (const form of ['parallel', 'recurrent'] as const) {
      it(`${c.name} (${form}): output and gradients for scores, values and the state`, () => {
        tf.tidy(() => {
          const inputs = [tensor(c, 'scores', sShape), tensor(c, 'values', vShape)];
          if (c.max) {
            inputs.push(
              tensor(c, 'max', stats),
              tensor(c, 'numerator', [...stats, vShape[vShape.length - 1]!]),
              tensor(c, 'denominator', stats),
            );
          }
          const probe = tensor(c, 'probe', vShape);
          const run = (s: tf.Tensor, v: tf.Tensor, ...init: tf.Tensor[]) =>
            logSumExpScan(s, v, {
              form,
              initialState: init.length
                ? { max: init[0]!, numerator: init[1]!, denominator: init[2]! }
                : undefined,
            }).output;
          close(run(...(inputs as [tf.Tensor, tf.Tensor])), c.output);
          const grads = tf.grads((...xs) =>
            tf.sum(tf.mul(run(...(xs as [tf.Tensor, tf.Tensor])), probe)),
          )(inputs);
          const names = ['scores', 'values', 'max', 'numerator', 'denominator'];
          grads.forEach((g, i) => close(g, c[`grad_${names[i]}`]));
        });
      });
    }
  }
});

describe('causalConv1d against PyTorch', () => {
  for (const c of fixture.causalConv1d!) {
    it(`${c.name}: output, state and gradients for x, weight, bias and the state`, () => {
      tf.tidy(() => {
        const xShape = c.xShape as number[];
        const [batch, time, channels] = xShape as [number, number, number];
        const k = c.kernel as number;
        const inputs = [tensor(c, 'x', xShape), tensor(c, 'weight', [channels, k])];
        const names = ['x', 'weight'];
        if (c.bias) {
          inputs.push(tensor(c, 'bias', [channels]));
          names.push('bias');
        }
        if (c.initialState) {
          inputs.push(tensor(c, 'initialState', [batch, k - 1, channels]));
          names.push('initialState');
        }
        const probe = tensor(c, 'probe', [batch, time, channels]);
        const probeState = tensor(c, 'probeState', [batch, k - 1, channels]);
        const run = (...xs: tf.Tensor[]) => {
          const byName = Object.fromEntries(names.map((n, i) => [n, xs[i]!]));
          return causalConv1d(byName.x as tf.Tensor3D, byName.weight as tf.Tensor2D, {
            bias: byName.bias as tf.Tensor1D | undefined,
            initialState: byName.initialState as tf.Tensor3D | undefined,
            activation: (c.activation as string | null) ?? undefined,
          });
        };
        const { output, state } = run(...inputs);
        close(output, c.output);
        close(state, c.state);
        const grads = tf.grads((...xs) => {
          const r = run(...xs);
          return tf.add(tf.sum(tf.mul(r.output, probe)), tf.sum(tf.mul(r.state, probeState)));
        })(inputs);
        grads.forEach((g, i) => close(g, c[`grad_${names[i]}`]));
      });
    });
  }
});
