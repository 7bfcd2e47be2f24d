import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, checkInt, checkRank, formatShape } from '@attnkit/core';
import {
  applyMemory,
  applyMemoryWith,
  memoryGradientFactors,
  memoryGradients,
  type MemoryModel,
} from './memory-model';
import { biasGradient, retain, type MirasChoice } from './miras';

/**
 * What the memory carries between calls, per weight matrix of the model, each [b, h, in, out]:
 * the accumulator A (the weights are R(A), see `retain`), the surprise S (momentum) and A at the
 * start of the current chunk (the point the chunk's gradients are taken at).
 */
export type NeuralMemoryCarry = {
  weights: tf.Tensor[];
  momentum: tf.Tensor[];
  base: tf.Tensor[];
};

export interface NeuralMemoryInputs {
  /** Queries, keys, values [b, h, t, d]. */
  q: tf.Tensor4D;
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  /** θ_t >= 0, the inner learning rate [b, h, t]. */
  lr: tf.Tensor3D;
  /** log η_t <= 0, the momentum's decay [b, h, t]; absent: no momentum (η = 0). */
  logMomentum?: tf.Tensor3D;
  /** log(1 − α_t) <= 0, the retention [b, h, t]; absent: no forgetting (α = 0). */
  logRetain?: tf.Tensor3D;
}

export interface NeuralMemoryOptions {
  model: MemoryModel;
  miras: MirasChoice;
  /** 'chunk' (default): the parallel form within each chunk; 'recurrent': one token a step. */
  form?: 'chunk' | 'recurrent';
  /** Tokens whose gradients are taken at the same weights (Titans sec. 3.2); default 16. */
  chunkSize?: number;
  /** Tokens the carry has already consumed (where the chunk boundaries fall); default 0. */
  offset?: number;
  /** 'updated' (default): y_t = M_t(q_t); 'chunkStart': y_t from the weights at the chunk start (MAC). */
  retrieve?: 'updated' | 'chunkStart';
  /**
   * Largest norm of a token's inner gradient ∇ℓ (all the memory's matrices together); a larger one
   * is scaled down to it. Default `defaultGradientClip(model)`; Infinity: the paper's rule unclipped.
   */
  gradientClip?: number;
}

/**
 * The default clip of a token's inner gradient norm: 3·√d for values of width d. The mixers' unit
 * keys and SiLU values of unit-variance inputs give gradients of median norm ~√d (99th percentile
 * 2.2-3.1·√d, at d 8 and 16, initial weights), so the clip rarely acts on such inputs; on larger
 * ones it bounds each token's step by θ_t·τ: the weights grow at most polynomially in the tokens
 * read and cannot overflow.
 */
export function defaultGradientClip(model: MemoryModel): number {
  return 3 * Math.sqrt(model.shapes[model.shapes.length - 1]![1]);
}

export interface NeuralMemoryResult {
  /** y [b, h, t, d]. */
  output: tf.Tensor4D;
  state: NeuralMemoryCarry;
}

const BLOCK = 'neuralMemory';

/**
 * Titans' neural long-term memory, state in, state out (Behrouz et al. 2024, "Titans: Learning to
 * Memorize at Test Time", sec. 3.1-3.2). Per token: ℓ = ‖M_{t−1}(k_t) − v_t‖² (eq. 12), surprise
 * S_t = η_t S_{t−1} − θ_t ∇ℓ (eq. 14), forgetting M_t = (1 − α_t) M_{t−1} + S_t (eq. 13),
 * retrieval y_t = M_t(q_t) (eq. 15). Chunked (sec. 3.2, eqs. 16-18): the gradients of a chunk's
 * tokens are all taken at the weights of the chunk start, so they come in one batched pass, and
 * momentum and decay become a scan within the chunk: [n, n] decay matrices applied to the
 * gradients' factors (`factoredPiece`), or to per-token weights where the retention is nonlinear
 * (`materializedPiece`). Chunk size 1 is the token-by-token rule. Miras (`miras`) swaps the loss's
 * gradient (attentional bias) and maps the accumulator to weights (retention). The inner
 * gradient is tensor math (`memoryGradients`), so the outer model trains through the updates.
 * Each token's ∇ℓ is clipped to norm `gradientClip` (`clippedStep`): without it a deep or gated
 * memory diverges on large values (its curvature grows with its weights); q, k are expected
 * ℓ2-normalised (sec. 4.4), as the mixers give them.
 */
export function neuralMemory(
  inputs: NeuralMemoryInputs,
  carry: NeuralMemoryCarry,
  options: NeuralMemoryOptions,
): NeuralMemoryResult {
  const { model, miras, form = 'chunk', retrieve = 'updated' } = options;
  const chunk = checkInt(BLOCK, 'chunkSize', options.chunkSize ?? 16);
  const offset = checkInt(BLOCK, 'offset', options.offset ?? 0, 0);
  const clip = options.gradientClip ?? defaultGradientClip(model);
  if (!(clip > 0)) throw new ConfigError(BLOCK, 'gradientClip', 'a number > 0', String(clip));
  checkInputs(inputs, carry, model);
  return tf.tidy(() => {
    const t = inputs.q.shape[2];
    const sizes = pieceSizes(t, chunk, offset, form === 'recurrent');
    const split = <T extends tf.Tensor>(x: T | undefined): (T | undefined)[] =>
      x ? (sizes.length === 1 ? [x] : (tf.split(x, sizes, 2) as T[])) : sizes.map(() => undefined);
    const [qs, ks, vs, lrs, lms, lrts] = [
      split(inputs.q),
      split(inputs.k),
      split(inputs.v),
      split(inputs.lr),
      split(inputs.logMomentum),
      split(inputs.logRetain),
    ];
    const gradOf = biasGradient(miras);
    let { weights: a, momentum: s, base } = carry;
    let position = offset;
    const outputs: tf.Tensor[] = [];
    sizes.forEach((n, i) => {
      if (position % chunk === 0) base = a;
      const baseWeights = base.map((w) => retain(miras, w));
      const piece = { q: qs[i]!, k: ks[i]!, v: vs[i]!, lr: lrs[i]!, lm: lms[i], lrt: lrts[i] };
      const r = linearRetention(miras)
        ? factoredPiece(model, gradOf, baseWeights, a, s, piece, retrieve, clip)
        : materializedPiece(model, miras, gradOf, baseWeights, a, s, piece, retrieve, clip);
      outputs.push(r.y);
      const [nextA, nextS] = [r.a, r.s];
      a = nextA;
      s = nextS;
      position += n;
    });
    if (position % chunk === 0) base = a;
    const output = (outputs.length === 1 ? outputs[0]! : tf.concat(outputs, 2)) as tf.Tensor4D;
    return { output, state: { weights: a, momentum: s, base } };
  });
}

/** One piece of tokens that share the gradients' weights: its inputs and gates. */
interface Piece {
  q: tf.Tensor;
  k: tf.Tensor;
  v: tf.Tensor;
  lr: tf.Tensor;
  lm?: tf.Tensor;
  lrt?: tf.Tensor;
}

interface PieceResult {
  y: tf.Tensor;
  a: tf.Tensor[];
  s: tf.Tensor[];
}

/** True when the weights are the accumulator itself (ℓ2 retention, or ℓ_q with q = 2). */
function linearRetention(miras: MirasChoice): boolean {
  return miras.retention === 'l2' || (miras.retention === 'lq' && miras.q === 2);
}

/**
 * A piece with W = A (Titans' own retention), never forming a weight per token: each gradient is
 * an outer product x_iᵀ δ_i, so A_t = e^{c_t} A_0 + w_t S_0 + Σ_i C[t, i] (−θ_i) x_iᵀ δ_i (C the
 * decay matrix of the retention times that of the momentum) and a layer's product with A_t is
 * e^{c_t} z A_0 + w_t z S_0 + ((z Xᵀ) ⊙ C') Δ: [n, n] matrix products, as the paper's parallel
 * form (sec. 3.2, eqs. 16-18).
 */
function factoredPiece(
  model: MemoryModel,
  gradOf: (e: tf.Tensor) => tf.Tensor,
  baseWeights: tf.Tensor[],
  a: tf.Tensor[],
  s: tf.Tensor[],
  p: Piece,
  retrieve: 'updated' | 'chunkStart',
  clip: number,
): PieceResult {
  const n = p.q.shape[2]!;
  const factors = memoryGradientFactors(model, baseWeights, p.k, p.v, gradOf);
  // ‖x_iᵀ δ_i‖_F = ‖x_i‖ ‖δ_i‖: the norms come from the factors.
  const sq = (x: tf.Tensor) => tf.sum(tf.square(x), -1);
  const lr = clippedStep(p.lr, tf.addN(factors.map((f) => tf.mul(sq(f.input), sq(f.delta)))), clip);
  const keep = decayMatrix(p.lrt ?? tf.zerosLike(p.lr));
  const carryA = tf.exp(tf.cumsum(p.lrt ?? tf.zerosLike(p.lr), 2)); // e^{c_t} [b, h, n]
  const momentum = p.lm ? decayMatrix(p.lm) : tf.eye(n);
  const fromS0 = p.lm ? tf.matMul(keep, tf.expandDims(tf.exp(tf.cumsum(p.lm, 2)), -1)) : null;
  const neg = tf.expandDims(tf.neg(lr), -2); // −θ_i on the columns
  const coefA = tf.mul(p.lm ? tf.matMul(keep, momentum) : keep, neg);
  const coefS = tf.mul(momentum, neg);
  const col = (x: tf.Tensor) => tf.expandDims(x, -1);
  const project = (z: tf.Tensor, l: number) => {
    const { input, delta } = factors[l]!;
    let out = tf.add(
      tf.mul(col(carryA), tf.matMul(z, a[l]!)),
      tf.matMul(tf.mul(tf.matMul(z, input, false, true), coefA), delta),
    );
    if (fromS0) out = tf.add(out, tf.mul(fromS0, tf.matMul(z, s[l]!)));
    return out;
  };
  const y =
    retrieve === 'chunkStart'
      ? applyMemory(model, baseWeights, p.q)
      : applyMemoryWith(model, project, p.q);
  const last = (x: tf.Tensor) => lastStep(x); // the piece's last row
  const nextA = factors.map(({ input, delta }, l) => {
    const sum = tf.matMul(input, tf.mul(delta, col(last(coefA))), true, false);
    let out = tf.add(tf.mul(tf.reshape(last(carryA), [...last(carryA).shape, 1, 1]), a[l]!), sum);
    if (fromS0) {
      const w = tf.reshape(last(fromS0), [...last(carryA).shape, 1, 1]);
      out = tf.add(out, tf.mul(w, s[l]!));
    }
    return out;
  });
  const nextS = factors.map(({ input, delta }, l) => {
    const sum = tf.matMul(input, tf.mul(delta, col(last(coefS))), true, false);
    if (!p.lm) return sum;
    const decay = tf.exp(tf.reshape(last(tf.cumsum(p.lm, 2)), [...last(carryA).shape, 1, 1]));
    return tf.add(tf.mul(decay, s[l]!), sum);
  });
  return { y, a: nextA, s: nextS };
}

/** A piece with a nonlinear retention (Moneta's ℓ_q, Memora's KL): one weight set per token. */
function materializedPiece(
  model: MemoryModel,
  miras: MirasChoice,
  gradOf: (e: tf.Tensor) => tf.Tensor,
  baseWeights: tf.Tensor[],
  a: tf.Tensor[],
  s: tf.Tensor[],
  p: Piece,
  retrieve: 'updated' | 'chunkStart',
  clip: number,
): PieceResult {
  const n = p.q.shape[2]!;
  const grads = memoryGradients(model, baseWeights, p.k, p.v, gradOf);
  const lr = clippedStep(p.lr, tf.addN(grads.map((g) => tf.sum(tf.square(g), [-2, -1]))), clip);
  const nextA: tf.Tensor[] = [];
  const nextS: tf.Tensor[] = [];
  const perToken: tf.Tensor[] = [];
  grads.forEach((g, l) => {
    const [b, h, , din, dout] = g.shape;
    const flat = tf.reshape(g, [b!, h!, n, din! * dout!]);
    const u = tf.mul(tf.neg(tf.expandDims(lr, -1)), flat);
    const sAll = p.lm ? decayScan(p.lm, u, s[l]!) : u;
    const aAll = decayScan(p.lrt ?? tf.zerosLike(p.lr), sAll, a[l]!);
    nextS.push(tf.reshape(lastStep(sAll), [b!, h!, din!, dout!]));
    nextA.push(tf.reshape(lastStep(aAll), [b!, h!, din!, dout!]));
    perToken.push(retain(miras, tf.reshape(aAll, [b!, h!, n, din!, dout!])));
  });
  const y = applyMemory(model, retrieve === 'chunkStart' ? baseWeights : perToken, p.q);
  return { y, a: nextA, s: nextS };
}

/**
 * θ_t·min(1, τ/‖∇ℓ_t‖): each token's inner gradient clipped to norm τ (norm clipping, Pascanu et
 * al. 2013, "On the difficulty of training recurrent neural networks", sec. 3.2), folded into its
 * step so eqs. 14 and 16-18 keep their form. lr and the squared norms [b, h, n].
 */
function clippedStep(lr: tf.Tensor, sqNorm: tf.Tensor, clip: number): tf.Tensor {
  if (clip === Infinity) return lr;
  return tf.mul(lr, tf.minimum(1, tf.div(clip, tf.sqrt(tf.add(sqNorm, 1e-12)))));
}

/** D[j, i] = exp(Σ_{i<m<=j} log d_m) for i <= j, else 0: [b, h, n, n] from log d [b, h, n]. */
function decayMatrix(logDecay: tf.Tensor): tf.Tensor {
  const n = logDecay.shape[2]!;
  const c = tf.cumsum(logDecay, logDecay.rank - 1);
  const diff = tf.sub(tf.expandDims(c, -1), tf.expandDims(c, -2));
  return tf.exp(tf.add(diff, upperMask(n)));
}

/**
 * x_j = d_j x_{j−1} + u_j within a piece, for all j at once: X = D U + (Π d) x_0 with
 * D[j, i] = exp(Σ_{i<m<=j} log d_m) for i <= j (Titans eqs. 16-18's scan of momentum and decay).
 * logDecay [b, h, n], u [b, h, n, P], x0 [b, h, in, out] (flattened to P).
 */
function decayScan(logDecay: tf.Tensor, u: tf.Tensor, x0: tf.Tensor): tf.Tensor {
  const [b, h, , p] = u.shape as [number, number, number, number];
  const c = tf.cumsum(logDecay, logDecay.rank - 1);
  const d = decayMatrix(logDecay);
  const start = tf.mul(tf.expandDims(tf.exp(c), -1), tf.reshape(x0, [b, h, 1, p]));
  return tf.add(tf.matMul(d, u), start);
}

/** 0 on and below the diagonal, −1e30 above: an additive causal mask [n, n]. */
function upperMask(n: number): tf.Tensor {
  const values = new Float32Array(n * n);
  for (let j = 0; j < n; j++) for (let i = j + 1; i < n; i++) values[j * n + i] = -1e30;
  return tf.tensor2d(values, [n, n]);
}

/** The last step of [b, h, n, ...] along axis 2 (by split, whose gradient is a concat). */
function lastStep(x: tf.Tensor): tf.Tensor {
  const n = x.shape[2]!;
  const last = n === 1 ? x : tf.split(x, [n - 1, 1], 2)[1]!;
  return tf.squeeze(last, [2]);
}

/** Piece lengths: up to the next chunk boundary, then whole chunks (or single tokens). */
function pieceSizes(t: number, chunk: number, offset: number, single: boolean): number[] {
  if (single) return Array.from({ length: t }, () => 1);
  const sizes: number[] = [];
  let done = 0;
  while (done < t) {
    const n = Math.min(chunk - ((offset + done) % chunk), t - done);
    sizes.push(n);
    done += n;
  }
  return sizes;
}

function checkInputs(inputs: NeuralMemoryInputs, carry: NeuralMemoryCarry, model: MemoryModel) {
  const { q, k, v, lr } = inputs;
  for (const [name, x] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    checkRank(BLOCK, name, x, 4);
    if (x.shape.slice(0, 3).join() !== q.shape.slice(0, 3).join()) {
      throw new ShapeError(
        BLOCK,
        name,
        `[b, h, t] of q ${formatShape(q.shape)}`,
        formatShape(x.shape),
      );
    }
  }
  const [b, h, t] = q.shape;
  const din = model.shapes[0]![0];
  const dout = model.shapes[model.shapes.length - 1]![1];
  if (q.shape[3] !== din || k.shape[3] !== din || v.shape[3] !== dout) {
    const got = `q ${formatShape(q.shape)}, k ${formatShape(k.shape)}, v ${formatShape(v.shape)}`;
    throw new ShapeError(BLOCK, 'q/k/v', `key width ${din}, value width ${dout}`, got);
  }
  for (const [name, x] of [
    ['lr', lr],
    ['logMomentum', inputs.logMomentum],
    ['logRetain', inputs.logRetain],
  ] as const) {
    if (x && x.shape.join() !== [b, h, t].join()) {
      throw new ShapeError(BLOCK, name, `shape [${b},${h},${t}]`, formatShape(x.shape));
    }
  }
  for (const part of ['weights', 'momentum', 'base'] as const) {
    const ws = carry[part];
    const ok =
      ws.length === model.shapes.length &&
      ws.every((w, i) => w.shape.join() === [b, h, ...model.shapes[i]!].join());
    if (!ok) {
      const want = model.shapes.map((s) => `[${b},${h},${s.join(',')}]`).join(' ');
      throw new ShapeError(
        BLOCK,
        `state.${part}`,
        want,
        ws.map((w) => formatShape(w.shape)).join(' '),
      );
    }
  }
}
