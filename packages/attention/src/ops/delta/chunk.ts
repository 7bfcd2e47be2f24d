import * as tf from '@tensorflow/tfjs-core';
import { pieces } from '../slicing';

/**
 * The chunkwise form of the (gated) delta rule: Yang et al. 2024, "Parallelizing Linear
 * Transformers with the Delta Rule over Sequence Length" (sec. 3, the WY representation and
 * its UT transform), with the gate of Yang, Kautz & Hatamizadeh 2025 ("Gated Delta Networks",
 * sec. 3). In a chunk of C tokens entering with state S, Γ_i = Σ_{j<=i} log α_j (local) and
 * D_ij = exp(Γ_i − Γ_j) for j <= i, every u_i = β_i (v_i − α_i S_{i-1}ᵀ k_i) solves
 *
 *   (I + A) U = diag(β) V − diag(β ⊙ exp(Γ)) K S,   A = strictly-lower(diag(β) K Kᵀ ⊙ D)
 *
 * so with M = (I + A)⁻¹ (the UT transform), W = M diag(β ⊙ exp(Γ)) K and U' = M diag(β) V:
 *
 *   O  = (Q ⊙ exp(Γ) − P W) S + P U',          P = Q Kᵀ ⊙ D (j <= i)
 *   S' = (exp(Γ_C) I − K̃ᵀ W) S + K̃ᵀ U',        K̃ = K ⊙ exp(Γ_C − Γ)
 *
 * Every chunk's W, U', P is computed at once; only the last line runs chunk after chunk (T/C
 * products of [dk, dk] by [dk, dv]). Every exponent is <= 0. M comes from `unitLowerInverse`.
 * Gradients: autodiff through this composite, which keeps O(T·C·log C) values per head for the
 * intra-chunk terms plus the T/C chunk-boundary states and transitions (O((T/C)·dk·(dk+dv))),
 * never a [T, T] map. The last chunk is padded with k = v = q = 0, β = 0, log α = 0 tokens,
 * which leave S unchanged.
 */
export function deltaChunk(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  beta: tf.Tensor3D,
  g: tf.Tensor3D | null,
  s0: tf.Tensor4D | null,
  chunkSize: number,
): { output: tf.Tensor4D; state: tf.Tensor4D } {
  return tf.tidy(() => {
    const [b, h, t, dk] = q.shape;
    const dv = v.shape[3];
    const c = Math.min(chunkSize, t);
    const n = Math.ceil(t / c);
    const pad = n * c - t;
    const rows = b * h * n;
    // Zero tokens at the end (concat, not pad: the cpu backend pads element by element).
    const padded = (x: tf.Tensor): tf.Tensor => {
      if (pad === 0) return x;
      const shape = [...x.shape];
      shape[2] = pad;
      return tf.concat([x, tf.zeros(shape)], 2);
    };
    const byChunk = (x: tf.Tensor, width?: number) =>
      tf.reshape(padded(x), width === undefined ? [rows, c] : [rows, c, width]);
    const qc = byChunk(q, dk);
    const kc = byChunk(k, dk);
    const vc = byChunk(v, dv);
    const betaCol = tf.expandDims(byChunk(beta), 2); // [rows, c, 1]
    const inclusive = tf.linalg.bandPart(tf.ones([c, c]), -1, 0);
    const strict = tf.sub(inclusive, tf.eye(c));

    let decay: tf.Tensor = inclusive; // D, zero above the diagonal
    let inDecay: tf.Tensor | null = null; // exp(Γ_i) [rows, c, 1]
    let outDecay: tf.Tensor | null = null; // exp(Γ_C − Γ_j) [rows, c, 1]
    let chunkDecay: tf.Tensor | null = null; // exp(Γ_C) [rows, 1, 1]
    if (g) {
      const cum = tf.cumsum(byChunk(g), 1); // on the last axis (see tfjs' cumsum gradient)
      const last = tf.slice(cum, [0, c - 1], [rows, 1]);
      // Masked before exp: the entries above the diagonal would be positive exponents.
      const diff = tf.sub(tf.expandDims(cum, 2), tf.expandDims(cum, 1));
      decay = tf.mul(tf.exp(tf.mul(diff, inclusive)), inclusive);
      inDecay = tf.expandDims(tf.exp(cum), 2);
      outDecay = tf.expandDims(tf.exp(tf.sub(last, cum)), 2);
      chunkDecay = tf.reshape(tf.exp(last), [rows, 1, 1]);
    }
    const scaled = (x: tf.Tensor, by: tf.Tensor | null) => (by ? tf.mul(x, by) : x);

    const a = tf.mul(tf.mul(betaCol, tf.matMul(kc, kc, false, true)), tf.mul(decay, strict));
    const inverse = unitLowerInverse(a);
    const solve = (x: tf.Tensor) => (inverse ? tf.matMul(inverse, x) : x);
    const w = solve(tf.mul(kc, scaled(betaCol, inDecay)));
    const u = solve(tf.mul(vc, betaCol));
    const p = tf.mul(tf.matMul(qc, kc, false, true), decay);
    const queries = tf.sub(scaled(qc, inDecay), tf.matMul(p, w)); // reads the entering state
    const intra = tf.matMul(p, u);
    const kOut = scaled(kc, outDecay);
    const eye = tf.eye(dk);
    const transition = tf.sub(scaled(eye, chunkDecay), tf.matMul(kOut, w, true, false));
    const inject = tf.matMul(kOut, u, true, false);

    // The only sequential part: S_{n+1} = F_n S_n + G_n over the T/C chunks.
    const heads = b * h;
    const fs = pieces(tf.reshape(transition, [heads, n, dk, dk]), n, 1);
    const gs = pieces(tf.reshape(inject, [heads, n, dk, dv]), n, 1);
    let state: tf.Tensor = s0 ? tf.reshape(s0, [heads, dk, dv]) : tf.zeros([heads, dk, dv]);
    const entering: tf.Tensor[] = [];
    for (let i = 0; i < n; i++) {
      entering.push(state);
      const f = tf.reshape(fs[i]!, [heads, dk, dk]);
      state = tf.add(tf.matMul(f, state), tf.reshape(gs[i]!, [heads, dk, dv]));
    }
    const states = tf.reshape(tf.stack(entering, 1), [rows, dk, dv]);
    const out = tf.reshape(tf.add(intra, tf.matMul(queries, states)), [b, h, n * c, dv]);
    return {
      output: (pad === 0 ? out : tf.slice(out, [0, 0, 0, 0], [b, h, t, dv])) as tf.Tensor4D,
      state: tf.reshape(state, [b, h, dk, dv]) as tf.Tensor4D,
    };
  });
}

/**
 * (I + A)⁻¹ for A strictly lower triangular [rows, C, C], by doubling block inversion: with B
 * the inverse of the diagonal blocks of size s, the blocks of size 2s are
 * [[B1, 0], [−B2 A21 B1, B2]], i.e. B ← B − B A_s B where A_s keeps A's lower-left s-block of
 * each 2s-block. ⌈log2 C⌉ levels of two batched C×C products: O(C³ log C) work per chunk in
 * log C steps (tfjs has no triangular solve; forward substitution would take C sequential
 * steps), and every intermediate is a block of the exact inverse, so nothing grows beyond it.
 * null when C = 1 (the identity).
 */
export function unitLowerInverse(a: tf.Tensor): tf.Tensor | null {
  const c = a.shape[a.rank - 1]!;
  let inverse: tf.Tensor | null = null;
  for (let size = 1; size < c; size *= 2) {
    const off = tf.mul(a, crossBlockMask(c, size));
    inverse = inverse
      ? tf.sub(inverse, tf.matMul(tf.matMul(inverse, off), inverse))
      : tf.sub(tf.eye(c), off);
  }
  return inverse;
}

/** 1 where row i is in the second and column j in the first s-block of the same 2s-block. */
function crossBlockMask(c: number, s: number): tf.Tensor2D {
  const values = new Float32Array(c * c);
  for (let i = 0; i < c; i++) {
    for (let j = 0; j < c; j++) {
      const sameBlock = Math.floor(i / (2 * s)) === Math.floor(j / (2 * s));
      if (sameBlock && Math.floor(i / s) % 2 === 1 && Math.floor(j / s) % 2 === 0) {
        values[i * c + j] = 1;
      }
    }
  }
  return tf.tensor2d(values, [c, c]);
}
