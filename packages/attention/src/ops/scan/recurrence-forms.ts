import * as tf from '@tensorflow/tfjs-core';

/**
 * The two forms of h_t = a_t ⊙ h_{t-1} + b_t over axis 1, shared by the forward pass and by
 * the gradient, which runs the recurrence backwards: with `reverse`, h_t = a_t ⊙ h_{t+1} + b_t
 * and h0 stands for h_{T+1}. a [Ba, T, ...Fa] broadcasts to b [B, T, ...F] on every axis but
 * time; h0 [B, ...F]. Returns h [B, T, ...F].
 */
export type RecurrenceForm = (
  a: tf.Tensor,
  b: tf.Tensor,
  h0: tf.Tensor,
  reverse?: boolean,
) => tf.Tensor;

/** One step per token: accepts any real a. */
export function sequentialRecurrence(
  a: tf.Tensor,
  b: tf.Tensor,
  h0: tf.Tensor,
  reverse = false,
): tf.Tensor {
  return tf.tidy(() => {
    const as = tf.unstack(a, 1);
    const bs = tf.unstack(b, 1);
    const hs: tf.Tensor[] = new Array<tf.Tensor>(bs.length);
    let h = h0;
    for (let i = 0; i < bs.length; i++) {
      const t = reverse ? bs.length - 1 - i : i;
      hs[t] = h = tf.add(tf.mul(as[t]!, h), bs[t]!);
    }
    return tf.stack(hs, 1);
  });
}

/**
 * a = 0 is read as this (the smallest normal float32), so log a stays finite: exact up to
 * 1e-38·|h|. Negative a has no real log: the chunk form gives NaN for it.
 */
const TINY = 1.1754944e-38;

/**
 * Chunked closed form (Martin & Cundy 2018; the chunked "SSD" of Dao & Gu 2024, Mamba-2,
 * sec. 6): with C_t = Σ_{r<=t} log a_r inside a chunk of L steps,
 *
 *   h_t = e^{C_t} ⊙ h_carry + Σ_{s<=t} e^{C_t - C_s} ⊙ b_s,
 *
 * every chunk at once, then h_carry passed across the T/L chunks in a short loop (reversed:
 * suffix sums, s >= t, and the carry enters each chunk at its first step). Only pairs s <= t
 * are exponentiated, where C_t - C_s <= 0 for a <= 1, so a tiny a cannot overflow. A scalar a
 * per step (a's feature axes all 1) makes the sum one [L, L] matmul per chunk; otherwise a is
 * repeated to b's shape and the L(L+1)/2 pairs are gathered by matmuls (transient memory
 * O(T·L·features)): no broadcasting elementwise op, which tfjs' cpu backend runs slowly.
 */
export function chunkRecurrence(chunkSize: number): RecurrenceForm {
  return (a, b, h0, reverse = false) =>
    tf.tidy(() => {
      const [batch, time] = b.shape as [number, number];
      const features = b.shape.slice(2);
      const scalar = a.shape.slice(2).every((d) => d === 1);
      const aFull = scalar || sameShape(a.shape, b.shape) ? a : tf.add(a, tf.zerosLike(b));
      const aBatch = aFull.shape[0]!;
      const L = Math.min(chunkSize, time);
      const n = Math.ceil(time / L);
      const extra = n * L - time;
      const padTime = (x: tf.Tensor) =>
        extra
          ? tf.pad(
              x,
              x.shape.map((_, i) => (i === 1 ? [0, extra] : [0, 0])),
            )
          : x;
      // Padded steps (a = 1, log 0; b = 0) follow the real ones and pass h on unchanged: the
      // forward pass reaches them last, the reverse one hands h0 through them to step T.
      const logA = tf.reshape(padTime(tf.log(tf.maximum(aFull, TINY))), [aBatch, n, L, -1]);
      const bc = tf.reshape(padTime(b), [batch, n, L, -1]);
      const pairs: [number, number][] = [];
      for (let t = 0; t < L; t++) {
        for (let s = 0; s < L; s++) if (reverse ? s >= t : s <= t) pairs.push([t, s]);
      }
      // Prefix (suffix, reversed) sums within each chunk as one matmul, for every backend.
      const cum = tf.matMul(
        constant(
          L,
          L,
          pairs.map(([t, s]) => [t, s, 1]),
        ),
        logA,
      );
      const decay = tf.exp(cum); // Π a_r from the chunk's entry up to t
      const edge = reverse ? 0 : L - 1; // where the carry leaves a chunk
      const lastOf = (x: tf.Tensor) =>
        tf.unstack(tf.reshape(tf.slice(x, [0, 0, edge], [-1, -1, 1]), [x.shape[0]!, n, -1]), 1);
      const local = scalar ? scalarLocal(cum, bc, pairs) : pairLocal(cum, bc, pairs);
      const lastDecay = lastOf(decay);
      const lastLocal = lastOf(local);
      let carry = tf.reshape(h0, [batch, -1]);
      const carries: tf.Tensor[] = new Array<tf.Tensor>(n);
      for (let i = 0; i < n; i++) {
        const c = reverse ? n - 1 - i : i;
        carries[c] = carry;
        carry = tf.add(tf.mul(lastDecay[c]!, carry), lastLocal[c]!);
      }
      const entering = tf.expandDims(tf.stack(carries, 1), 2); // [B, n, 1, F]
      // e^{C_t} ⊙ h_carry: an outer product for a scalar a, else the carry repeated over L.
      const carried = scalar
        ? tf.matMul(decay, entering)
        : tf.mul(decay, tf.matMul(tf.ones([1, 1, L, 1]), entering));
      const h = tf.reshape(tf.add(local, carried), [batch, n * L, ...features]);
      return extra ? tf.slice(h, 0, [batch, time]) : h;
    });
}

/** A [1, 1, rows, cols] constant from (row, column, value) entries, summed; 0 elsewhere. */
function constant(rows: number, cols: number, entries: [number, number, number][]): tf.Tensor {
  const values = new Float32Array(rows * cols);
  for (const [r, c, v] of entries) values[r * cols + c] += v;
  return tf.tensor4d(values, [1, 1, rows, cols]);
}

/** Σ_s e^{C_t - C_s} b_s for a scalar per step: cum [Ba, n, L, 1], bc [B, n, L, F]. */
function scalarLocal(cum: tf.Tensor, bc: tf.Tensor, pairs: [number, number][]): tf.Tensor {
  const L = bc.shape[2]!;
  const mask = Array.from<number>({ length: L * L }).fill(-Infinity);
  for (const [t, s] of pairs) mask[t * L + s] = 0;
  const diff = tf.sub(cum, tf.transpose(cum, [0, 1, 3, 2])); // [Ba, n, L, L]: C_t - C_s
  return tf.matMul(tf.exp(tf.add(diff, tf.tensor2d(mask, [L, L]))), bc);
}

/**
 * Σ_s e^{C_t - C_s} ⊙ b_s per feature over the listed (t, s) pairs, cum and bc [B, n, L, F]
 * of one shape: C_t - C_s and b_s are gathered by [P, L] matmuls, summed back into t by one.
 */
function pairLocal(cum: tf.Tensor, bc: tf.Tensor, pairs: [number, number][]): tf.Tensor {
  const L = bc.shape[2]!;
  const P = pairs.length;
  const difference = constant(
    P,
    L,
    pairs.flatMap(([t, s], p) => [
      [p, t, 1],
      [p, s, -1],
    ]),
  );
  const source = constant(
    P,
    L,
    pairs.map(([, s], p) => [p, s, 1]),
  );
  const target = constant(
    L,
    P,
    pairs.map(([t], p) => [t, p, 1]),
  );
  const terms = tf.mul(tf.exp(tf.matMul(difference, cum)), tf.matMul(source, bc));
  return tf.matMul(target, terms);
}

function sameShape(x: readonly number[], y: readonly number[]): boolean {
  return x.length === y.length && x.every((d, i) => d === y[i]);
}
