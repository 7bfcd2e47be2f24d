import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@attnkit/core';

/** Expects `loss` to send a non-zero gradient to every parameter of `model` (failures name them). */
export function expectGradientToEveryParameter(model: Module, loss: () => tf.Scalar): void {
  const named = [...model.namedParameters()];
  const { value, grads } = tf.variableGrads(
    loss,
    named.map(([, v]) => v),
  );
  const flowing = tf.tidy(() =>
    named.map(([name, v]) => [name, tf.sum(tf.abs(grads[v.name]!)).dataSync()[0]! > 0]),
  );
  expect(flowing).toEqual(named.map(([name]) => [name, true]));
  tf.dispose([value, ...Object.values(grads)]);
}
