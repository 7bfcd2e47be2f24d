import * as tf from '@tensorflow/tfjs-core';

/**
 * The chunkwise form (fla's `chunk`): Yang et al. 2023 (GLA), the chunkwise parallel form
 * (sec. 2.2; sec. 4.2 with gates, here a scalar gate per step), and the intra-/inter-block
 * split of Qin et al. 2024 (Lightning Attention-2, sec. 3); RetNet's chunkwise form
 * (Sun et al. 2023, eq. 7) is the constant-decay case. Per chunk of C tokens, with Γ_i the
 * cumulative log decay inside the chunk and γ = Γ_C:
 *
 *   intra:  O  = (Q Kᵀ ⊙ M) V,  M_ij = exp(Γ_i - Γ_j) for j <= i, else 0
 *   inter:  O += (Q ⊙ exp(Γ)) S
 *   carry:  S' = exp(γ) S + (K ⊙ exp(γ - Γ))ᵀ V
 *
 * Every exponent is <= 0 (log space, no division by a cumulative product). The gradient is
 * our own (tf.customGrad): it saves only the inputs, recomputes the chunk-boundary states in
 * one forward sweep and runs the chunks backwards, so training memory is
 * O(T·C + (T/C)·dk·dv) per head instead of the parallel form's O(T²).
 */
export function linearChunk(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  g: tf.Tensor3D | null,
  s0: tf.Tensor4D | null,
  chunkSize: number,
): { output: tf.Tensor4D; state: tf.Tensor4D } {
  const [b, h, t, dk] = q.shape;
  const dv = v.shape[3];
  return tf.tidy(() => {
    const gate = g ?? tf.zeros([b, h, t]);
    const initial = s0 ?? tf.zeros([b, h, dk, dv]);
    const hasDecay = g !== null;
    // customGrad returns one tensor: the output and the final state side by side.
    const run = tf.customGrad((...args: unknown[]) => {
      const [qq, kk, vv, gg, ss] = args as [
        tf.Tensor4D,
        tf.Tensor4D,
        tf.Tensor4D,
        tf.Tensor3D,
        tf.Tensor4D,
      ];
      const save = args[5] as tf.GradSaveFunc;
      save([qq, kk, vv, gg, ss]);
      const outputs: tf.Tensor[] = [];
      let state: tf.Tensor4D = ss;
      for (const [start, n] of chunks(t, chunkSize)) {
        const prev = state;
        const next = tf.tidy(() =>
          chunkForward(sliceChunk(qq, kk, vv, gg, start, n), prev, hasDecay),
        );
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
          chunkBackward(saved as Saved, dy, chunkSize, hasDecay),
      };
    });
    const packed = run(q, k, v, gate, initial) as tf.Tensor3D;
    return {
      output: tf.reshape(tf.slice(packed, [0, 0, 0], [b, h, t * dv]), [b, h, t, dv]) as tf.Tensor4D,
      state: tf.reshape(tf.slice(packed, [0, 0, t * dv], [b, h, dk * dv]), [
        b,
        h,
        dk,
        dv,
      ]) as tf.Tensor4D,
    };
  });
}

type Saved = [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor3D, tf.Tensor4D];

interface Chunk {
  q: tf.Tensor4D;
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  g: tf.Tensor3D;
}

/** [start, length] of each chunk; the last one is shorter when C does not divide T. */
function chunks(t: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let start = 0; start < t; start += size) out.push([start, Math.min(size, t - start)]);
  return out;
}

function sliceChunk(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  g: tf.Tensor3D,
  start: number,
  n: number,
): Chunk {
  const [b, h] = q.shape;
  return {
    q: tf.slice(q, [0, 0, start, 0], [b, h, n, -1]),
    k: tf.slice(k, [0, 0, start, 0], [b, h, n, -1]),
    v: tf.slice(v, [0, 0, start, 0], [b, h, n, -1]),
    g: tf.slice(g, [0, 0, start], [b, h, n]),
  };
}

/** What the forward and backward of one chunk share: decays (as factors <= 1) and weights. */
interface ChunkTerms {
  /** exp(Γ_i) [b,h,n,1]. */
  inDecay: tf.Tensor;
  /** exp(γ - Γ_j) [b,h,n,1]. */
  outDecay: tf.Tensor;
  /** exp(γ) [b,h,1,1]. */
  chunkDecay: tf.Tensor;
  /** Q Kᵀ ⊙ M [b,h,n,n]. */
  weights: tf.Tensor;
  /** M [b,h,n,n] (the causal mask with the decay inside). */
  mask: tf.Tensor;
}

function chunkTerms(c: Chunk, hasDecay: boolean): ChunkTerms {
  const [b, h, n] = c.q.shape;
  const causal = tf.linalg.bandPart(tf.ones([n, n]), -1, 0);
  const scores = tf.matMul(c.q, c.k, false, true);
  if (!hasDecay) {
    const one = tf.ones([b, h, 1, 1]);
    return {
      inDecay: one,
      outDecay: one,
      chunkDecay: one,
      weights: tf.mul(scores, causal),
      mask: causal,
    };
  }
  const cum = tf.cumsum(c.g, 2); // Γ, inclusive, over the chunk's own tokens
  const last = tf.slice(cum, [0, 0, n - 1], [b, h, 1]);
  const diff = tf.sub(tf.expandDims(cum, 3), tf.expandDims(cum, 2));
  const mask = tf.exp(tf.where(tf.cast(causal, 'bool'), diff, tf.fill(diff.shape, -Infinity)));
  return {
    inDecay: tf.expandDims(tf.exp(cum), 3),
    outDecay: tf.expandDims(tf.exp(tf.sub(last, cum)), 3),
    chunkDecay: tf.reshape(tf.exp(last), [b, h, 1, 1]),
    weights: tf.mul(scores, mask),
    mask,
  };
}

function chunkForward(
  c: Chunk,
  state: tf.Tensor4D,
  hasDecay: boolean,
): { output: tf.Tensor4D; state: tf.Tensor4D } {
  const m = chunkTerms(c, hasDecay);
  const intra = tf.matMul(m.weights, c.v);
  const inter = tf.matMul(tf.mul(c.q, m.inDecay), state);
  const carried = tf.add(
    tf.mul(m.chunkDecay, state),
    tf.matMul(tf.mul(c.k, m.outDecay), c.v, true, false),
  );
  return { output: tf.add(intra, inter) as tf.Tensor4D, state: carried as tf.Tensor4D };
}

/**
 * Gradient of the packed [output, final state] w.r.t. q, k, v, g and the initial state.
 * Per chunk, with dO and dS' (the gradient reaching the state after the chunk):
 *   dV = Pᵀ dO + K_d dS',  dQ = (dO Vᵀ ⊙ M) K + (dO Sᵀ) ⊙ exp(Γ),
 *   dK = (dO Vᵀ ⊙ M)ᵀ Q + (V dS'ᵀ) ⊙ exp(γ - Γ),  dS = (Q ⊙ exp(Γ))ᵀ dO + exp(γ) dS',
 * and dΓ from every exp(·) factor, turned into dg by a suffix sum (Γ = cumsum g).
 */
function chunkBackward(
  saved: Saved,
  dy: tf.Tensor,
  chunkSize: number,
  hasDecay: boolean,
): tf.Tensor[] {
  const [q, k, v, g, s0] = saved;
  const [b, h, t, dk] = q.shape;
  const dv = v.shape[3];
  const dOut = tf.reshape(tf.slice(dy, [0, 0, 0], [b, h, t * dv]), [b, h, t, dv]);
  let dState: tf.Tensor = tf.reshape(tf.slice(dy, [0, 0, t * dv], [b, h, dk * dv]), [b, h, dk, dv]);
  const spans = chunks(t, chunkSize);
  // States entering each chunk, recomputed (never stored by the forward pass).
  const entering: tf.Tensor4D[] = [s0];
  for (const [start, n] of spans.slice(0, -1)) {
    const prev = entering[entering.length - 1]!;
    entering.push(
      tf.tidy(() => chunkForward(sliceChunk(q, k, v, g, start, n), prev, hasDecay).state),
    );
  }
  const dq: tf.Tensor[] = [];
  const dk_: tf.Tensor[] = [];
  const dv_: tf.Tensor[] = [];
  const dg: tf.Tensor[] = [];
  for (let i = spans.length - 1; i >= 0; i--) {
    const [start, n] = spans[i]!;
    const state = entering[i]!;
    const dNext = dState;
    const grads = tf.tidy(() => {
      const c = sliceChunk(q, k, v, g, start, n);
      const dO = tf.slice(dOut, [0, 0, start, 0], [b, h, n, dv]);
      const m = chunkTerms(c, hasDecay);
      const kd = tf.mul(c.k, m.outDecay);
      const qd = tf.mul(c.q, m.inDecay);
      const dP = tf.matMul(dO, c.v, false, true); // dO Vᵀ, before the mask
      const dScores = tf.mul(dP, m.mask);
      const dOSt = tf.matMul(dO, state, false, true); // dO Sᵀ [n, dk]
      const vdSt = tf.matMul(c.v, dNext, false, true); // V dS'ᵀ [n, dk]
      const gq = tf.add(tf.matMul(dScores, c.k), tf.mul(dOSt, m.inDecay));
      const gk = tf.add(tf.matMul(dScores, c.q, true, false), tf.mul(vdSt, m.outDecay));
      const gv = tf.add(tf.matMul(m.weights, dO, true, false), tf.matMul(kd, dNext));
      const gs = tf.add(tf.matMul(qd, dO, true, false), tf.mul(m.chunkDecay, dNext));
      let gg: tf.Tensor = tf.zeros([b, h, n]);
      if (hasDecay) {
        const w = tf.mul(dP, m.weights);
        const fromInter = tf.sum(tf.mul(dOSt, qd), 3);
        const fromCarry = tf.sum(tf.mul(vdSt, kd), 3);
        let dCum = tf.add(tf.sub(tf.sum(w, 3), tf.sum(w, 2)), tf.sub(fromInter, fromCarry));
        // γ = Γ_n: its gradient joins the last position.
        const dLast = tf.add(
          tf.sum(fromCarry, 2, true),
          tf.reshape(tf.sum(tf.mul(tf.mul(m.chunkDecay, state), dNext), [2, 3]), [b, h, 1]),
        );
        dCum = tf.add(
          dCum,
          tf.pad(dLast, [
            [0, 0],
            [0, 0],
            [n - 1, 0],
          ]),
        );
        gg = tf.cumsum(dCum, 2, false, true); // dg_i = Σ_{j >= i} dΓ_j
      }
      return { gq, gk, gv, gs, gg };
    });
    dq.push(grads.gq);
    dk_.push(grads.gk);
    dv_.push(grads.gv);
    dg.push(grads.gg);
    dState = grads.gs;
    dNext.dispose();
    if (i > 0) state.dispose();
  }
  const result = [
    tf.concat(dq.reverse(), 2),
    tf.concat(dk_.reverse(), 2),
    tf.concat(dv_.reverse(), 2),
    tf.concat(dg.reverse(), 2),
    dState,
  ];
  tf.dispose([dOut, dq, dk_, dv_, dg]);
  return result;
}
