import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { RegistryError } from '../errors';
import { describe } from '../checks';

export type Activation = (x: tf.Tensor) => tf.Tensor;

/** GELU, exact form x·Φ(x) (Hendrycks & Gimpel 2016, eq. 1). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/** GELU, tanh approximation (Hendrycks & Gimpel 2016, sec. 2). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
  });
}

/** Squared ReLU, max(x, 0)² (So et al. 2021, Primer). */
export function squaredRelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.square(tf.relu(x)));
}

const activations = new Map<string, Activation>([
  ['gelu', gelu],
  ['gelu-tanh', geluTanh],
  ['silu', (x) => tf.tidy(() => tf.mul(x, tf.sigmoid(x)))],
  ['relu', (x) => tf.relu(x)],
  ['relu2', squaredRelu],
  ['squared-relu', squaredRelu],
  ['sigmoid', (x) => tf.sigmoid(x)],
  ['tanh', (x) => tf.tanh(x)],
  ['identity', (x) => tf.clone(x)],
]);

export const builtinActivationNames = [
  'gelu',
  'gelu-tanh',
  'silu',
  'relu',
  'relu2',
  'squared-relu',
  'sigmoid',
  'tanh',
  'identity',
] as const;

export type ActivationName = (typeof builtinActivationNames)[number];

/** Any registered activation name (built-ins plus `registerActivation`), checked when parsed. */
export const activationNameSchema = z.string().refine((name) => activations.has(name), {
  error: () => `a registered activation (${[...activations.keys()].join(', ')})`,
});

/** Adds an activation that configs can then name. */
export function registerActivation(name: string, fn: Activation): void {
  if (activations.has(name)) {
    throw new RegistryError(
      'registerActivation',
      'name',
      'a new activation name',
      `'${name}' already registered`,
    );
  }
  activations.set(name, fn);
}

export function getActivation(name: string): Activation {
  const fn = activations.get(name);
  if (!fn) {
    throw new RegistryError(
      'getActivation',
      'name',
      `one of ${[...activations.keys()].join(', ')}`,
      describe(name),
    );
  }
  return fn;
}
