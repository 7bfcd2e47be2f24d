import * as tf from '@tensorflow/tfjs-core';
import type { AttentionOptions, AttentionResult } from './options';
import type { AttentionGeometry } from './validate';

/**
 * The fused attention kernel a backend may register (architecture contract 7), e.g.
 * @attnkit/backend-native: inputs { q, k, v }, outputs [output, logSumExp], with its gradient.
 * Attrs: scale, causal, window (0 = none), queryPositions, keyPositions.
 */
export const FUSED_ATTENTION_KERNEL = 'AttnkitFusedAttention';

const INT32_MAX = 2 ** 31 - 1;

function int32s(list: number[]): boolean {
  return list.every((p) => Number.isInteger(p) && Math.abs(p) <= INT32_MAX);
}

/** Whether the kernel computes exactly these options: masks by position only, no extras. */
function fusable(options: AttentionOptions, geometry: AttentionGeometry): boolean {
  return (
    options.mask === undefined &&
    options.bias === undefined &&
    options.logitSoftcap === undefined &&
    options.sinkLogit === undefined &&
    options.querySegments === undefined &&
    options.keySegments === undefined &&
    !options.returnWeights &&
    (options.normalizer ?? 'softmax') === 'softmax' &&
    !((options.dropout ?? 0) > 0) &&
    !((options.sinkTokens ?? 0) > 0) &&
    geometry.keyLength > 0 &&
    int32s(geometry.queryPositions) &&
    int32s(geometry.keyPositions)
  );
}

/**
 * Runs scaled dot-product attention as the active backend's fused kernel when it has one and
 * the options allow; returns undefined otherwise (the caller then uses the composite forms).
 */
export function fusedAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: AttentionOptions,
  geometry: AttentionGeometry,
): AttentionResult | undefined {
  if (!fusable(options, geometry)) return undefined;
  if (tf.getKernel(FUSED_ATTENTION_KERNEL, tf.getBackend()) === undefined) return undefined;
  const attrs = {
    scale: geometry.scale,
    causal: Boolean(options.causal) || options.window !== undefined,
    window: options.window ?? 0,
    queryPositions: geometry.queryPositions,
    keyPositions: geometry.keyPositions,
  };
  return tf.tidy(() => {
    const [output] = tf
      .engine()
      .runKernel(FUSED_ATTENTION_KERNEL, { q, k, v }, attrs) as tf.Tensor[];
    return { output: output as tf.Tensor4D };
  });
}
