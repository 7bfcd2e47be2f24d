// The chunked linear-attention kernel a backend may register (architecture contract 7), e.g.
// @attnkit/backend-native; its name, inputs, attrs and outputs are @attnkit/kernels' contract.
import * as tf from '@tensorflow/tfjs-core';
import {
  CHUNKED_LINEAR_ATTENTION,
  CHUNKED_LINEAR_ATTENTION_GRAD,
  type ChunkedLinearAttentionAttrs,
  type ChunkedLinearAttentionInputs,
  type ChunkedLinearAttentionOutputs,
} from '@attnkit/kernels';
import type { LinearAttentionOptions, LinearAttentionResult } from './types';
import type { LinearGeometry } from './validate';

/**
 * Runs the 'chunk' form as the active backend's kernel when it has one (with its gradient
 * kernel) and the gate, if any, is a scalar per step; returns undefined otherwise (the caller
 * then runs the composite). `logDecay` gives g = log λ_h + gate [b, h, t] or null; its gradient
 * reaches decay and gate by autodiff.
 */
export function linearKernel(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: LinearAttentionOptions,
  geo: LinearGeometry,
  logDecay: () => tf.Tensor | null,
): LinearAttentionResult | undefined {
  if (geo.form !== 'chunk' || (options.gate !== undefined && options.gate.rank !== 3)) {
    return undefined;
  }
  const backend = tf.getBackend();
  if (
    tf.getKernel(CHUNKED_LINEAR_ATTENTION, backend) === undefined ||
    tf.getKernel(CHUNKED_LINEAR_ATTENTION_GRAD, backend) === undefined
  ) {
    return undefined;
  }
  const { batch: b, heads: h, time: t, keyDim: dk, valueDim: dv, normalize } = geo;
  const attrs: ChunkedLinearAttentionAttrs = {
    chunkSize: geo.chunkSize,
    scale: geo.scale,
    causal: geo.causal,
    normalize,
    eps: geo.eps,
  };
  const [output, kv, kSum] = tf.tidy(() => {
    const init = options.initialState;
    const inputs: ChunkedLinearAttentionInputs<tf.Tensor> = {
      q,
      k,
      v,
      logDecay: logDecay() ?? tf.zeros([b, h, t]),
      kv0: init?.kv ?? tf.zeros([b, h, dk, dv]),
      kSum0: init?.kSum ?? tf.zeros([b, h, dk]),
    };
    const outputs = tf
      .engine()
      .runKernel(
        CHUNKED_LINEAR_ATTENTION,
        inputs,
        attrs,
      ) as ChunkedLinearAttentionOutputs<tf.Tensor>;
    return normalize ? outputs : [outputs[0], outputs[1]];
  });
  const result: LinearAttentionResult = {
    output: output as tf.Tensor4D,
    state: { kv: kv as tf.Tensor4D },
  };
  if (kSum) result.state.kSum = kSum as tf.Tensor3D;
  return result;
}
