import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { NamedRegistry, type EntryInfo } from '../named-registry';

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

/** Activations by name; MLP and GLU take one by `activation: '<name>'`. */
export const activations = new NamedRegistry<Activation>('activation');
activations.register('gelu', gelu, { paper: 'Hendrycks & Gimpel 2016', equation: 'eq. 1' });
activations.register('gelu-tanh', geluTanh, {
  paper: 'Hendrycks & Gimpel 2016',
  equation: 'sec. 2',
});
activations.register('silu', (x) => tf.tidy(() => tf.mul(x, tf.sigmoid(x))));
activations.register('relu', (x) => tf.relu(x));
activations.register('relu2', squaredRelu, { paper: 'So et al. 2021, Primer' });
activations.register('squared-relu', squaredRelu, { paper: 'So et al. 2021, Primer' });
activations.register('sigmoid', (x) => tf.sigmoid(x));
activations.register('tanh', (x) => tf.tanh(x));
activations.register('identity', (x) => tf.clone(x));

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
  error: () => `a registered activation (${activations.names().join(', ')})`,
});

/** Adds an activation that configs can then name. */
export function registerActivation(name: string, fn: Activation, info?: EntryInfo): void {
  activations.register(name, fn, info);
}

export function getActivation(name: string): Activation {
  return activations.get(name);
}
