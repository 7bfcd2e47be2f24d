import * as tf from '@tensorflow/tfjs-core';
import { Rng, build, type Module, type TokenMixer } from '@attnkit/core';

export type Mixer = Module & TokenMixer;

export const randomInput = (t = 6, seed = 1, dModel = 16, batch = 2) =>
  tf.randomNormal([batch, t, dModel], 0, 1, 'float32', seed) as tf.Tensor3D;

export function makeMixer<M extends Mixer = Mixer>(config: Record<string, unknown>, seed = 3): M {
  return build<M>({ dModel: 16, numHeads: 4, ...config }, { rng: new Rng(seed) });
}

/** Feeds the sequence `step` tokens at a time through a fresh state and concatenates the outputs. */
export function decodeStepwise(m: Mixer, input: tf.Tensor3D, step = 1): tf.Tensor {
  const state = m.initState!(input.shape[0]);
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < input.shape[1]; i += step) {
    const n = Math.min(step, input.shape[1] - i);
    const chunk = tf.slice(input, [0, i, 0], [-1, n, -1]) as tf.Tensor3D;
    outs.push(m.forward(chunk, { state }));
    chunk.dispose();
  }
  state.dispose();
  const out = tf.concat(outs, 1);
  tf.dispose(outs);
  return out;
}

/** Gradients of sum(forward(x)²) for every parameter: each must exist and be non-zero somewhere. */
export function parameterGradients(m: Mixer, input: tf.Tensor3D): Map<string, number> {
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(m.forward(input))) as tf.Scalar);
  const out = new Map<string, number>();
  for (const [name, v] of m.namedParameters()) {
    const g = grads[v.name];
    out.set(name, g ? tf.max(tf.abs(g)).dataSync()[0]! : NaN);
  }
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}
