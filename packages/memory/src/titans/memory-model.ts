import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@attnkit/core';

/**
 * The memory model M of Titans' neural long-term memory (Behrouz et al. 2024, "Titans: Learning
 * to Memorize at Test Time", sec. 3.1): its weights are the memory, updated at test time. Kinds:
 * 'linear' (one matrix: the delta rule's memory), 'mlp' (depth >= 2 matrices with SiLU between,
 * no biases) and 'swiglu' (gate, up, down: SiLU(x W_g) ⊙ (x W_u) W_d).
 */
export type MemoryModelKind = 'linear' | 'mlp' | 'swiglu';

export interface MemoryModel {
  kind: MemoryModelKind;
  /** [in, out] of each weight matrix, in order. */
  shapes: [number, number][];
}

/** The model's weight shapes for keys/values of width `dim` and a hidden width `hidden`. */
export function memoryModel(
  kind: MemoryModelKind,
  dim: number,
  hidden: number,
  depth: number,
  block = 'neural-memory',
): MemoryModel {
  if (!Number.isInteger(depth) || depth < 1) {
    throw new ConfigError(block, 'memoryDepth', 'an integer >= 1', String(depth));
  }
  if (kind === 'linear') return { kind, shapes: [[dim, dim]] };
  if (kind === 'swiglu') {
    return {
      kind,
      shapes: [
        [dim, hidden],
        [dim, hidden],
        [hidden, dim],
      ],
    };
  }
  if (depth < 2) throw new ConfigError(block, 'memoryDepth', "an integer >= 2 for 'mlp'", '1');
  const widths = [dim, ...Array.from({ length: depth - 1 }, () => hidden), dim];
  return { kind, shapes: widths.slice(0, -1).map((w, i) => [w, widths[i + 1]!]) };
}

/** Number of memory parameters per head. */
export function memoryModelSize(model: MemoryModel): number {
  return model.shapes.reduce((n, [a, b]) => n + a * b, 0);
}

function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** d silu / dz = σ(z) (1 + z (1 − σ(z))), written out so autodiff can differentiate it again. */
function siluGrad(z: tf.Tensor): tf.Tensor {
  const s = tf.sigmoid(z);
  return tf.mul(s, tf.add(1, tf.mul(z, tf.sub(1, s))));
}

/**
 * x [..., n, in] times w: shared weights [..., in, out] (a batched matMul) or one matrix per
 * token [..., n, in, out] (a product and a sum over `in`).
 */
function project(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  if (w.rank === x.rank) return tf.matMul(x, w);
  return tf.sum(tf.mul(tf.expandDims(x, -1), w), -2);
}

/** Multiplies a layer input [..., n, in] by weight matrix `l`. */
export type LayerProjection = (x: tf.Tensor, l: number) => tf.Tensor;

/** The forward pass through `project`, keeping the pre-activations the backward pass needs. */
function forwardTrace(model: MemoryModel, project: LayerProjection, x: tf.Tensor) {
  if (model.kind === 'swiglu') {
    const a = project(x, 0);
    const u = project(x, 1);
    const h = tf.mul(silu(a), u);
    return { y: project(h, 2), inputs: [x, x, h], pre: [a, u] };
  }
  const inputs: tf.Tensor[] = [x];
  const pre: tf.Tensor[] = [];
  let h = x;
  for (let i = 0; i < model.shapes.length; i++) {
    const z = project(h, i);
    if (i === model.shapes.length - 1) h = z;
    else {
      pre.push(z);
      h = silu(z);
      inputs.push(h);
    }
  }
  return { y: h, inputs, pre };
}

/** M(x) with each layer's product given by `project` (weights held implicitly: the chunked form). */
export function applyMemoryWith(
  model: MemoryModel,
  project: LayerProjection,
  x: tf.Tensor,
): tf.Tensor {
  return tf.tidy(() => forwardTrace(model, project, x).y);
}

/** M(x) with the given weights (shared [b, h, in, out] or per token [b, h, n, in, out]). */
export function applyMemory(model: MemoryModel, weights: tf.Tensor[], x: tf.Tensor): tf.Tensor {
  return applyMemoryWith(model, (h, l) => project(h, weights[l]!), x);
}

/** One weight's per-token gradients as factors: ∇W_t = input_tᵀ delta_t (an outer product). */
export type GradientFactors = {
  /** [b, h, n, in] */
  input: tf.Tensor;
  /** [b, h, n, out] */
  delta: tf.Tensor;
};

/**
 * The per-token gradients ∇_W ℓ(M_W(k_t), v_t) of every weight at shared weights W [b, h, in,
 * out], for keys k [b, h, n, in], as factors (each gradient is input_tᵀ delta_t). `outputGrad`
 * maps the error M(k) − v to ∂ℓ/∂M(k) (the attentional bias). Backpropagation written with tensor
 * ops (Titans eq. 12's gradient), so the outer model's autodiff differentiates through it.
 */
export function memoryGradientFactors(
  model: MemoryModel,
  weights: tf.Tensor[],
  k: tf.Tensor,
  v: tf.Tensor,
  outputGrad: (error: tf.Tensor) => tf.Tensor,
): GradientFactors[] {
  return tf.tidy(() => {
    const { y, inputs, pre } = forwardTrace(model, (h, l) => project(h, weights[l]!), k);
    const delta = outputGrad(tf.sub(y, v));
    const back = (d: tf.Tensor, w: tf.Tensor) => tf.matMul(d, w, false, true);
    if (model.kind === 'swiglu') {
      const [a, u] = pre as [tf.Tensor, tf.Tensor];
      const dh = back(delta, weights[2]!);
      const da = tf.mul(tf.mul(dh, u), siluGrad(a));
      const du = tf.mul(dh, silu(a));
      return [
        { input: k, delta: da },
        { input: k, delta: du },
        { input: inputs[2]!, delta },
      ];
    }
    const factors: GradientFactors[] = [];
    let d = delta;
    for (let i = weights.length - 1; i >= 0; i--) {
      factors.unshift({ input: inputs[i]!, delta: d });
      if (i > 0) d = tf.mul(back(d, weights[i]!), siluGrad(pre[i - 1]!));
    }
    return factors;
  });
}

/** The same gradients as tensors, each [b, h, n, in, out]. */
export function memoryGradients(
  model: MemoryModel,
  weights: tf.Tensor[],
  k: tf.Tensor,
  v: tf.Tensor,
  outputGrad: (error: tf.Tensor) => tf.Tensor,
): tf.Tensor[] {
  return tf.tidy(() =>
    memoryGradientFactors(model, weights, k, v, outputGrad).map(({ input, delta }) =>
      tf.mul(tf.expandDims(input, -1), tf.expandDims(delta, -2)),
    ),
  );
}
