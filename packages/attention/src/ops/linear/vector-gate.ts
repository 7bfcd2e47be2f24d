import * as tf from '@tensorflow/tfjs-core';

/**
 * The three forms with a per-key-dimension log decay g [b, h, t, dk] (GLA, Yang et al. 2024,
 * "Gated Linear Attention Transformers with Hardware-Efficient Training", sec. 4):
 *
 *   S_t = (exp(g_t)ᵀ 1) ⊙ S_{t-1} + k_tᵀ v_t,    out_t = q_t S_t
 *
 * With Γ the cumulative sum of g (per dimension), the weight of key s for query t is
 * Σ_d q_td k_sd exp(Γ_td - Γ_sd) (s <= t): the paper's parallel form in log space, with the
 * exponent masked before exp and <= 0, so nothing overflows and no cumulative product is ever
 * divided by (the paper's hardware-efficient kernel instead bounds it by a secondary
 * chunking). The intra-chunk weights take a [n, n, dk] tensor per chunk: memory O(T·C·dk).
 */
/** One span of tokens (a chunk, or the whole sequence in the parallel form). */
interface Span {
  q: tf.Tensor4D;
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  g: tf.Tensor4D;
}

/**
 * Cumulative sum over time (axis 2) of [b, h, t, dk], taken on the last axis: tfjs-core 4.22's
 * gradient of cumsum over an inner axis returns a transposed shape, which autodiff would hit.
 */
function cumsumTime(x: tf.Tensor, reverse = false): tf.Tensor {
  const swap = [0, 1, 3, 2];
  return tf.transpose(tf.cumsum(tf.transpose(x, swap), 3, false, reverse), swap);
}

/** Γ, exp(Γ_i - Γ_j) masked to j <= i ([b,h,n,n,dk]) and the weights P_ijd = q_id k_jd E_ijd. */
function spanTerms(c: Span) {
  const [b, h, n, dk] = c.q.shape;
  const cum = cumsumTime(c.g);
  const last = tf.slice(cum, [0, 0, n - 1, 0], [b, h, 1, dk]); // γ [b,h,1,dk]
  const causal = tf.reshape(tf.cast(tf.linalg.bandPart(tf.ones([n, n]), -1, 0), 'bool'), [
    1,
    1,
    n,
    n,
    1,
  ]);
  const diff = tf.sub(tf.expandDims(cum, 3), tf.expandDims(cum, 2));
  const decay = tf.exp(tf.where(causal, diff, tf.fill(diff.shape, -Infinity)));
  const qk = tf.mul(tf.expandDims(c.q, 3), tf.expandDims(c.k, 2));
  const weights = tf.mul(qk, decay); // [b,h,n,n,dk]
  return {
    decay,
    weights,
    scores: tf.sum(weights, 4) as tf.Tensor4D, // A [b,h,n,n]
    inDecay: tf.exp(cum), // exp(Γ_i)
    outDecay: tf.exp(tf.sub(last, cum)), // exp(γ - Γ_j)
    chunkDecay: tf.reshape(tf.exp(last), [b, h, dk, 1]), // exp(γ) on S's rows
  };
}

/** out = A V + (q ⊙ exp(Γ)) S;  S' = exp(γ) ⊙ S + (k ⊙ exp(γ - Γ))ᵀ V. */
function spanForward(c: Span, state: tf.Tensor4D | null) {
  const m = spanTerms(c);
  let output = tf.matMul(m.scores, c.v);
  let next = tf.matMul(tf.mul(c.k, m.outDecay), c.v, true, false);
  if (state) {
    output = tf.add(output, tf.matMul(tf.mul(c.q, m.inDecay), state));
    next = tf.add(next, tf.mul(m.chunkDecay, state));
  }
  return { output: output as tf.Tensor4D, state: next as tf.Tensor4D };
}

/** Quadratic form over the whole sequence (the reference); gradients by autodiff. */
export function linearParallelVector(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  g: tf.Tensor4D,
  s0: tf.Tensor4D | null,
): { output: tf.Tensor4D; state: tf.Tensor4D } {
  return tf.tidy(() => spanForward({ q, k, v, g }, s0));
}

/** Token by token (decoding); gradients by autodiff through the loop. */
export function linearRecurrentVector(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  g: tf.Tensor4D,
  s0: tf.Tensor4D | null,
): { output: tf.Tensor4D; state: tf.Tensor4D } {
  return tf.tidy(() => {
    const [b, h, t, dk] = q.shape;
    const dv = v.shape[3];
    let state: tf.Tensor = s0 ?? tf.zeros([b, h, dk, dv]);
    const outputs: tf.Tensor[] = [];
    for (let i = 0; i < t; i++) {
      const at = (x: tf.Tensor4D, w: number) => tf.slice(x, [0, 0, i, 0], [b, h, 1, w]);
      const decay = tf.reshape(tf.exp(at(g, dk)), [b, h, dk, 1]);
      state = tf.add(tf.mul(decay, state), tf.matMul(at(k, dk), at(v, dv), true, false));
      outputs.push(tf.matMul(at(q, dk), state));
    }
    return { output: tf.concat(outputs, 2) as tf.Tensor4D, state: state as tf.Tensor4D };
  });
}

function spans(t: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let start = 0; start < t; start += size) out.push([start, Math.min(size, t - start)]);
  return out;
}

function slice(x: tf.Tensor4D, start: number, n: number): tf.Tensor4D {
  const [b, h] = x.shape;
  return tf.slice(x, [0, 0, start, 0], [b, h, n, -1]);
}

const spanAt = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, g: tf.Tensor4D) => {
  return (start: number, n: number): Span => ({
    q: slice(q, start, n),
    k: slice(k, start, n),
    v: slice(v, start, n),
    g: slice(g, start, n),
  });
};

/**
 * Chunkwise form (GLA sec. 4; Lightning-2's intra/inter split with a vector decay) with its
 * own gradient: the forward keeps only the inputs, the backward recomputes the chunk-boundary
 * states and walks the chunks backwards (see `spanBackward`).
 */
export function linearChunkVector(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  g: tf.Tensor4D,
  s0: tf.Tensor4D | null,
  chunkSize: number,
): { output: tf.Tensor4D; state: tf.Tensor4D } {
  const [b, h, t, dk] = q.shape;
  const dv = v.shape[3];
  return tf.tidy(() => {
    const initial = s0 ?? tf.zeros([b, h, dk, dv]);
    const run = tf.customGrad((...args: unknown[]) => {
      const [qq, kk, vv, gg, ss] = args as tf.Tensor4D[];
      (args[5] as tf.GradSaveFunc)([qq!, kk!, vv!, gg!, ss!]);
      const at = spanAt(qq!, kk!, vv!, gg!);
      const outputs: tf.Tensor[] = [];
      let state = ss!;
      for (const [start, n] of spans(t, chunkSize)) {
        const prev = state;
        const next = tf.tidy(() => spanForward(at(start, n), prev));
        outputs.push(next.output);
        if (state !== ss) state.dispose();
        state = next.state;
      }
      const value = tf.concat(
        [tf.reshape(tf.concat(outputs, 2), [b, h, t * dv]), tf.reshape(state, [b, h, dk * dv])],
        2,
      );
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          chunkBackward(saved as tf.Tensor4D[], dy, chunkSize),
      };
    });
    const packed = run(q, k, v, g, initial) as tf.Tensor3D;
    const output = tf.reshape(tf.slice(packed, [0, 0, 0], [b, h, t * dv]), [b, h, t, dv]);
    const state = tf.reshape(tf.slice(packed, [0, 0, t * dv], [b, h, dk * dv]), [b, h, dk, dv]);
    return { output: output as tf.Tensor4D, state: state as tf.Tensor4D };
  });
}

/**
 * One chunk's gradient, with E_ijd = exp(Γ_id - Γ_jd) (j <= i), dA = dO Vᵀ, W = dA ⊙ q_i k_j E:
 *   dq_i = Σ_j dA_ij k_j ⊙ E_ij + (dO Sᵀ)_i ⊙ exp(Γ_i),
 *   dk_j = Σ_i dA_ij q_i ⊙ E_ij + (V dS'ᵀ)_j ⊙ exp(γ - Γ_j),
 *   dV = Aᵀ dO + (K ⊙ exp(γ - Γ)) dS',   dS = exp(γ) ⊙ dS' + (Q ⊙ exp(Γ))ᵀ dO,
 *   dΓ_i = Σ_j W_ij - Σ_j W_ji + (dO Sᵀ)_i ⊙ q_i exp(Γ_i) - (V dS'ᵀ)_i ⊙ k_i exp(γ - Γ_i),
 *   dγ = Σ_j (V dS'ᵀ)_j ⊙ k_j exp(γ - Γ_j) + rowsum(S ⊙ dS') ⊙ exp(γ), joining dΓ_n;
 * then dg = the suffix sum of dΓ (Γ = cumsum g).
 */
function spanBackward(c: Span, state: tf.Tensor4D, dO: tf.Tensor4D, dNext: tf.Tensor) {
  const [b, h, n, dk] = c.q.shape;
  const m = spanTerms(c);
  const kd = tf.mul(c.k, m.outDecay);
  const qd = tf.mul(c.q, m.inDecay);
  const dA = tf.expandDims(tf.matMul(dO, c.v, false, true), 4); // [b,h,n,n,1]
  const dAE = tf.mul(dA, m.decay);
  const dOSt = tf.matMul(dO, state, false, true); // [b,h,n,dk]
  const vdSt = tf.matMul(c.v, dNext, false, true); // [b,h,n,dk]
  const dq = tf.add(tf.sum(tf.mul(dAE, tf.expandDims(c.k, 2)), 3), tf.mul(dOSt, m.inDecay));
  const dk_ = tf.add(tf.sum(tf.mul(dAE, tf.expandDims(c.q, 3)), 2), tf.mul(vdSt, m.outDecay));
  const dv = tf.add(tf.matMul(m.scores, dO, true, false), tf.matMul(kd, dNext));
  const ds = tf.add(tf.mul(m.chunkDecay, dNext), tf.matMul(qd, dO, true, false));
  const w = tf.mul(dA, m.weights);
  const fromCarry = tf.mul(vdSt, kd);
  let dCum = tf.add(tf.sub(tf.sum(w, 3), tf.sum(w, 2)), tf.sub(tf.mul(dOSt, qd), fromCarry));
  const fromState = tf.reshape(tf.sum(tf.mul(tf.mul(m.chunkDecay, state), dNext), 3), [
    b,
    h,
    1,
    dk,
  ]);
  const dLast = tf.add(tf.sum(fromCarry, 2, true), fromState);
  dCum = tf.add(
    dCum,
    tf.pad(dLast, [
      [0, 0],
      [0, 0],
      [n - 1, 0],
      [0, 0],
    ]),
  );
  const dg = cumsumTime(dCum, true);
  return { dq, dk: dk_, dv, dg, ds };
}

function chunkBackward(saved: tf.Tensor4D[], dy: tf.Tensor, chunkSize: number): tf.Tensor[] {
  const [q, k, v, g, s0] = saved as [
    tf.Tensor4D,
    tf.Tensor4D,
    tf.Tensor4D,
    tf.Tensor4D,
    tf.Tensor4D,
  ];
  const [b, h, t, dk] = q.shape;
  const dv = v.shape[3];
  const at = spanAt(q, k, v, g);
  const dOut = tf.reshape(tf.slice(dy, [0, 0, 0], [b, h, t * dv]), [b, h, t, dv]) as tf.Tensor4D;
  let dState: tf.Tensor = tf.reshape(tf.slice(dy, [0, 0, t * dv], [b, h, dk * dv]), [b, h, dk, dv]);
  const parts = spans(t, chunkSize);
  // States entering each chunk, recomputed (the forward never kept them).
  const entering: tf.Tensor4D[] = [s0];
  for (const [start, n] of parts.slice(0, -1)) {
    const prev = entering[entering.length - 1]!;
    entering.push(tf.tidy(() => spanForward(at(start, n), prev).state));
  }
  const grads: { dq: tf.Tensor; dk: tf.Tensor; dv: tf.Tensor; dg: tf.Tensor }[] = [];
  for (let i = parts.length - 1; i >= 0; i--) {
    const [start, n] = parts[i]!;
    const state = entering[i]!;
    const dNext = dState;
    const r = tf.tidy(() => spanBackward(at(start, n), state, slice(dOut, start, n), dNext));
    grads.unshift(r);
    dState = r.ds;
    dNext.dispose();
    if (i > 0) state.dispose();
  }
  const cat = (key: 'dq' | 'dk' | 'dv' | 'dg') =>
    tf.concat(
      grads.map((r) => r[key]),
      2,
    );
  const result = [cat('dq'), cat('dk'), cat('dv'), cat('dg'), dState];
  tf.dispose([dOut, ...grads.flatMap((r) => [r.dq, r.dk, r.dv, r.dg])]);
  return result;
}
