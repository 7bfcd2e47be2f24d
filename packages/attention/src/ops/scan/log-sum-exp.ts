import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkDtype, checkOneOf, formatShape } from '@attnkit/core';

const BLOCK = 'logSumExpScan';

/** The running softmax statistics of every prefix (Feng et al. 2024, sec. 3.1). */
export interface LogSumExpState {
  /** m [batch, ...heads]: the running max of the scores. */
  max: tf.Tensor;
  /** u [batch, ...heads, dv]: Σ_i e^{s_i - m} v_i. */
  numerator: tf.Tensor;
  /** w [batch, ...heads]: Σ_i e^{s_i - m}. */
  denominator: tf.Tensor;
}

export interface LogSumExpScanOptions {
  /**
   * 'parallel' (a Hillis-Steele associative scan, ceil(log2 T) combines over the whole
   * sequence) or 'recurrent' (one combine per token). Default 'parallel'.
   */
  form?: 'parallel' | 'recurrent';
  /** The state of the tokens before this call (a previous call's `state`). */
  initialState?: LogSumExpState;
}

export interface LogSumExpScanResult {
  /** o [batch, time, ...heads, dv]: o_t = Σ_{i<=t} e^{s_i} v_i / Σ_{i<=t} e^{s_i}. */
  output: tf.Tensor;
  /** The statistics after the last token. */
  state: LogSumExpState;
}

/**
 * Prefix softmax-weighted averages, attention as an RNN (Feng et al. 2024, "Attention as an
 * RNN" (Aaren), sec. 3.1-3.2): scores s [batch, time, ...heads] (any number of head axes,
 * none included), values v [batch, time, ...heads, dv]. Each token is the triple
 * (m, u, w) = (s_i, v_i, 1) and prefixes combine associatively,
 *
 *   (m_A, u_A, w_A) ⊕ (m_B, u_B, w_B) = (m, u_A e^{m_A-m} + u_B e^{m_B-m}, w_A e^{m_A-m} + w_B e^{m_B-m}),
 *   m = max(m_A, m_B),
 *
 * so every exponent is <= 0 (stable for any score range) and o_t = u_t / w_t. The parallel
 * form is Hillis & Steele's (1986) inclusive scan with this combine (Blelloch 1990); gradients
 * come from tfjs autodiff over its log T steps. A state with zero numerator and denominator
 * (and a finite max below the scores) stands for "no tokens yet".
 */
export function logSumExpScan(
  scores: tf.Tensor,
  values: tf.Tensor,
  options: LogSumExpScanOptions = {},
): LogSumExpScanResult {
  const { form = 'parallel', initialState } = options;
  checkOneOf(BLOCK, 'form', form, ['parallel', 'recurrent'] as const);
  checkDtype(BLOCK, 'scores', scores, ['float32']);
  checkDtype(BLOCK, 'values', values, ['float32']);
  if (scores.rank < 2 || scores.shape[1] === 0) {
    throw new ShapeError(BLOCK, 'scores', 'shape [batch, time >= 1, ...heads]', shapeOf(scores));
  }
  if (values.rank !== scores.rank + 1 || !sameShape(values.shape.slice(0, -1), scores.shape)) {
    throw new ShapeError(
      BLOCK,
      'values',
      `shape ${formatShape(scores.shape)} + [dv]`,
      shapeOf(values),
    );
  }
  if (initialState) {
    const stats = [scores.shape[0]!, ...scores.shape.slice(2)];
    const expected: [keyof LogSumExpState, number[]][] = [
      ['max', stats],
      ['numerator', [...stats, values.shape[values.rank - 1]!]],
      ['denominator', stats],
    ];
    for (const [key, shape] of expected) {
      const t = initialState[key];
      if (!(t instanceof tf.Tensor) || !sameShape(t.shape, shape)) {
        throw new ShapeError(
          BLOCK,
          `initialState.${key}`,
          `shape ${formatShape(shape)}`,
          t instanceof tf.Tensor ? shapeOf(t) : 'no tensor',
        );
      }
      checkDtype(BLOCK, `initialState.${key}`, t, ['float32']);
    }
  }
  return tf.tidy(() => {
    const time = scores.shape[1]!;
    const tokens: Triple = [scores, values, tf.onesLike(scores)];
    const init = initialState
      ? ([initialState.max, initialState.numerator, initialState.denominator] as Triple)
      : undefined;
    const prefix =
      form === 'recurrent'
        ? recurrentScan(tokens, time, init)
        : afterState(init, parallelScan(tokens, time));
    const [m, u, w] = prefix;
    const last = (x: tf.Tensor) => tf.squeeze(tf.slice(x, [0, time - 1], [-1, 1]), [1]);
    return {
      output: tf.div(u, tf.expandDims(w, -1)),
      state: { max: last(m), numerator: last(u), denominator: last(w) },
    };
  });
}

/** (m, u, w): running max, numerator (one more axis, dv), denominator. */
type Triple = [tf.Tensor, tf.Tensor, tf.Tensor];

function combine([mA, uA, wA]: Triple, [mB, uB, wB]: Triple): Triple {
  const m = tf.maximum(mA, mB);
  const eA = tf.exp(tf.sub(mA, m));
  const eB = tf.exp(tf.sub(mB, m));
  const u = tf.add(tf.mul(uA, tf.expandDims(eA, -1)), tf.mul(uB, tf.expandDims(eB, -1)));
  return [m, u, tf.add(tf.mul(wA, eA), tf.mul(wB, eB))];
}

/** Hillis-Steele: after the step with offset d, position t holds the combine of (t-2d, t]. */
function parallelScan(tokens: Triple, time: number): Triple {
  let x = tokens;
  for (let d = 1; d < time; d *= 2) {
    const earlier = x.map((t) => tf.slice(t, [0, 0], [-1, time - d])) as Triple;
    const later = x.map((t) => tf.slice(t, [0, d], [-1, time - d])) as Triple;
    const merged = combine(earlier, later);
    x = x.map((t, i) => tf.concat([tf.slice(t, [0, 0], [-1, d]), merged[i]!], 1)) as Triple;
  }
  return x;
}

/** The earlier tokens' state combined into every prefix. */
function afterState(init: Triple | undefined, prefix: Triple): Triple {
  if (!init) return prefix;
  // Repeated along time explicitly (tf.maximum's gradient does not undo a broadcast), by an
  // add, whose gradient sums at any rank (broadcastTo's, a tile gradient, stops at rank 4).
  const along = init.map((x, i) => tf.add(tf.expandDims(x, 1), tf.zerosLike(prefix[i]!)));
  return combine(along as Triple, prefix);
}

/** One combine per token, starting from `init` or the first token. */
function recurrentScan(tokens: Triple, time: number, init?: Triple): Triple {
  // unstack's gradient fails for a single piece.
  const steps = tokens.map((t) => (time > 1 ? tf.unstack(t, 1) : [tf.squeeze(t, [1])]));
  const at = (t: number) => steps.map((s) => s[t]!) as Triple;
  let acc = init;
  const out: Triple[] = [];
  for (let t = 0; t < time; t++) {
    acc = acc ? combine(acc, at(t)) : at(t);
    out.push(acc);
  }
  return [0, 1, 2].map((i) =>
    tf.stack(
      out.map((o) => o[i]!),
      1,
    ),
  ) as Triple;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function shapeOf(x: tf.Tensor): string {
  return `shape ${formatShape(x.shape)}`;
}
