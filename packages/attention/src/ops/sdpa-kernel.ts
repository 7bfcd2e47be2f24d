// The fused attention kernel a backend may register (architecture contract 7), e.g.
// @attnkit/backend-native; its name, inputs, attrs and outputs are @attnkit/kernels' contract.
import * as tf from '@tensorflow/tfjs-core';
import { withCustomGradient } from '@attnkit/core';
import {
  FUSED_ATTENTION,
  FUSED_ATTENTION_GRAD,
  type FusedAttentionAttrs,
  type FusedAttentionInputs,
  type FusedAttentionOutputs,
} from '@attnkit/kernels';
import type { AttentionOptions, AttentionResult } from './options';
import type { AttentionGeometry } from './validate';

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
    !(options.rowMask && (options.prefix || options.returnLogSumExp)) &&
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
  const backend = tf.getBackend();
  if (tf.getKernel(FUSED_ATTENTION, backend) === undefined) return undefined;
  // The lse's gradient goes through the gradient kernel (withLogSumExp), so both are needed.
  if (options.returnLogSumExp && tf.getKernel(FUSED_ATTENTION_GRAD, backend) === undefined)
    return undefined;
  const attrs: FusedAttentionAttrs = {
    scale: geometry.scale,
    causal: Boolean(options.causal) || options.window !== undefined,
    window: options.window ?? 0,
    queryPositions: geometry.queryPositions,
    keyPositions: geometry.keyPositions,
  };
  if (options.rowMask) {
    if (tf.getKernel(FUSED_ATTENTION_GRAD, backend) === undefined) return undefined;
    return { output: withRowMask(q, k, v, options.rowMask, attrs) };
  }
  if (options.returnLogSumExp) return withLogSumExp(q, k, v, attrs);
  const inputs: FusedAttentionInputs<tf.Tensor> = { q, k, v };
  return tf.tidy(() => {
    const [output] = tf
      .engine()
      .runKernel(FUSED_ATTENTION, inputs, attrs) as FusedAttentionOutputs<tf.Tensor>;
    return { output: output as tf.Tensor4D };
  });
}

/**
 * The kernel's output and log-sum-exp, both differentiable. The backend's gradient covers the
 * output only, so this runs the gradient kernel itself with the lse cotangent g folded in: the
 * kernel computes dS = P ⊙ (dO Vᵀ - D) with D = rowsum(dO ⊙ O), and ∂lse/∂S = P, so a zero
 * column appended to V and a -1 column to O, with g as that column of dO, give D - g and
 * dS = P ⊙ (dO Vᵀ - D + g). (One value per customGrad: the op returns [output | lse].)
 */
function withLogSumExp(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  attrs: FusedAttentionAttrs,
): AttentionResult {
  const dv = v.shape[3];
  const op = withCustomGradient<[tf.Tensor, tf.Tensor, tf.Tensor]>(
    (qIn: tf.Tensor, kIn: tf.Tensor, vIn: tf.Tensor, save: tf.GradSaveFunc) => {
      const [output, lse] = tf
        .engine()
        .runKernel(FUSED_ATTENTION, { q: qIn, k: kIn, v: vIn }, attrs) as tf.Tensor[];
      save([qIn, kIn, vIn, output!, lse!]);
      return {
        value: tf.concat([output!, tf.expandDims(lse!, -1)], -1),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [qs, ks, vs, out, l] = saved as [
            tf.Tensor4D,
            tf.Tensor4D,
            tf.Tensor4D,
            tf.Tensor4D,
            tf.Tensor,
          ];
          const [b, h, tq] = out.shape;
          const grads = tf.engine().runKernel(
            FUSED_ATTENTION_GRAD,
            {
              q: qs,
              k: ks,
              v: tf.concat([vs, tf.zeros([vs.shape[0], vs.shape[1], vs.shape[2], 1])], -1),
              out: tf.concat([out, tf.fill([b, h, tq, 1], -1)], -1),
              lse: l,
              dout: dy,
            },
            attrs,
          ) as tf.Tensor[];
          return [grads[0]!, grads[1]!, tf.slice(grads[2]!, [0, 0, 0, 0], [-1, -1, -1, dv])];
        },
      };
    },
  );
  return tf.tidy(() => {
    const packed = op(q, k, v);
    const lse = tf.squeeze(tf.slice(packed, [0, 0, 0, dv], [-1, -1, -1, 1]), [3]);
    // The kernel marks a row with no visible key by +Infinity; the op's contract says -Infinity.
    const logSumExp = tf.where(
      tf.isInf(lse),
      tf.fill<tf.Rank>(lse.shape, -Infinity),
      lse,
    ) as tf.Tensor3D;
    return {
      output: tf.slice(packed, [0, 0, 0, 0], [-1, -1, -1, dv]) as tf.Tensor4D,
      logSumExp,
    };
  });
}

/**
 * The kernel with a row mask, forward and backward: rows at 0 are skipped by both kernels (no
 * output, no gradient), so Mixture-of-Head attention pays only for the heads it selected.
 */
function withRowMask(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  rowMask: tf.Tensor3D,
  attrs: FusedAttentionAttrs,
): tf.Tensor4D {
  const op = withCustomGradient<[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]>(
    (qIn: tf.Tensor, kIn: tf.Tensor, vIn: tf.Tensor, mask: tf.Tensor, save: tf.GradSaveFunc) => {
      const inputs: FusedAttentionInputs<tf.Tensor> = { q: qIn, k: kIn, v: vIn, rowMask: mask };
      const [output, lse] = tf
        .engine()
        .runKernel(FUSED_ATTENTION, inputs, attrs) as FusedAttentionOutputs<tf.Tensor>;
      save([qIn, kIn, vIn, mask, output, lse]);
      return {
        value: output,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [qs, ks, vs, ms, out, l] = saved as tf.Tensor[];
          const grads = tf
            .engine()
            .runKernel(
              FUSED_ATTENTION_GRAD,
              { q: qs!, k: ks!, v: vs!, rowMask: ms!, out: out!, lse: l!, dout: dy },
              attrs,
            ) as tf.Tensor[];
          return [grads[0]!, grads[1]!, grads[2]!, tf.zerosLike(ms!)];
        },
      };
    },
  );
  return op(q, k, v, rowMask) as tf.Tensor4D;
}
