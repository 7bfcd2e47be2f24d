import * as tf from '@tensorflow/tfjs-core';

/**
 * The two forward forms of h_t = a_t ⊙ h_{t-1} + b_t over axis 1, shared by the forward pass
 * and by the gradient (itself a linear recurrence run backwards). a [Ba, T, ...Fa] broadcasts
 * to b [B, T, ...F] on every axis but time; h0 [B, ...F]. Returns h [B, T, ...F].
 */
export type RecurrenceForm = (a: tf.Tensor, b: tf.Tensor, h0: tf.Tensor) => tf.Tensor;

/** One step per token: accepts any real a. */
export function sequentialRecurrence(a: tf.Tensor, b: tf.Tensor, h0: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const as = tf.unstack(a, 1);
    const bs = tf.unstack(b, 1);
    let h = h0;
    const hs = bs.map((bt, t) => (h = tf.add(tf.mul(as[t]!, h), bt)));
    return tf.stack(hs, 1);
  });
}

/**
 * a = 0 is read as this (the smallest normal float32), so log a stays finite: exact up to
 * 1e-38·|h|. Negative a has no real log: the chunk form gives NaN for it.
 */
const TINY = 1.1754944e-38;

/**
 * Chunked closed form (Martin & Cundy 2018, sec. 3; the within-chunk matrix of Mamba-2's SSD):
 * with C_t = Σ_{r<=t} log a_r inside a chunk of L steps,
 *
 *   h_t = e^{C_t} ⊙ h_carry + Σ_{s<=t} e^{C_t - C_s} ⊙ b_s,
 *
 * every chunk at once, then h_carry passed across the T/L chunks in a short loop. The exponents
 * C_t - C_s <= 0 for a <= 1 and future terms are masked to -∞ before exp, so tiny a cannot
 * overflow. A scalar a per step (a's feature axes all 1) makes the sum one batched matmul;
 * otherwise it is elementwise over [B, T/L, L, L, ...F] (transient memory O(T·L·features)).
 */
export function chunkRecurrence(chunkSize: number): RecurrenceForm {
  return (a, b, h0) =>
    tf.tidy(() => {
      const [batch, time] = b.shape as [number, number];
      const features = b.shape.slice(2);
      const aFeatures = a.shape.slice(2);
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
      // Padded steps have a = 1 (log 0) and b = 0: they only follow the real ones.
      const logA = padTime(tf.log(tf.maximum(a, TINY)));
      const cum = tf.cumsum(tf.reshape(logA, [a.shape[0]!, n, L, ...aFeatures]), 2);
      const bc = tf.reshape(padTime(b), [batch, n, L, ...features]);
      const future = tf.tensor2d(
        Array.from({ length: L * L }, (_, i) => (i % L <= Math.floor(i / L) ? 0 : -Infinity)),
        [L, L],
      );
      let local: tf.Tensor;
      if (aFeatures.every((d) => d === 1)) {
        const c = tf.reshape(cum, [a.shape[0]!, n, L]);
        const diff = tf.sub(tf.expandDims(c, 3), tf.expandDims(c, 2));
        const w = tf.broadcastTo(tf.exp(tf.add(diff, future)), [batch, n, L, L]);
        const flatB = tf.reshape(bc, [batch * n, L, -1]);
        local = tf.reshape(tf.matMul(tf.reshape(w, [batch * n, L, L]), flatB), bc.shape);
      } else {
        const diff = tf.sub(tf.expandDims(cum, 3), tf.expandDims(cum, 2));
        const mask = tf.reshape(future, [1, 1, L, L, ...aFeatures.map(() => 1)]);
        const w = tf.exp(tf.add(diff, mask));
        local = tf.sum(tf.mul(w, tf.expandDims(bc, 2)), 3);
      }
      const decay = tf.exp(cum); // Π_{r<=t} a_r within the chunk
      const lastOf = (x: tf.Tensor) =>
        tf.unstack(
          tf.squeeze(
            tf.slice(
              x,
              x.shape.map((_, i) => (i === 2 ? L - 1 : 0)),
              x.shape.map((d, i) => (i === 2 ? 1 : d)),
            ),
            [2],
          ),
          1,
        );
      const lastDecay = lastOf(decay);
      const lastLocal = lastOf(local);
      let carry = h0;
      const carries: tf.Tensor[] = [];
      for (let c = 0; c < n; c++) {
        carries.push(carry);
        carry = tf.add(tf.mul(lastDecay[c]!, carry), lastLocal[c]!);
      }
      const h = tf.add(local, tf.mul(decay, tf.expandDims(tf.stack(carries, 1), 2)));
      const flat = tf.reshape(h, [batch, n * L, ...features]);
      return extra ? tf.slice(flat, 0, [batch, time]) : flat;
    });
}
