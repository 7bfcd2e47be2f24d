import * as tf from '@tensorflow/tfjs-core';
import { linearAttention, linearRecurrence, scaledDotProductAttention } from '@attnkit/attention';

/**
 * The dynamical-systems framework (Sieber et al. 2024, "Understanding the differences in
 * foundation models: attention, state space models and recurrent neural networks", sec. 2-3):
 * each mixer is h_t = Λ_t h_{t-1} + B_t u_t, y_t = C_t h_t + D u_t, so y = Φ u with the T×T
 * block operator Φ[t][s] = C_t Λ_t ⋯ Λ_{s+1} B_s (s ≤ t). For softmax attention, linear
 * attention, S6 and Mamba-2, each test writes Λ_t, B_t, C_t as docs/dynamical-systems.md states
 * them, materialises Φ in float64, and compares Φ u with the library's own op for that mixer.
 */

type Mat = number[][];

const zeros = (r: number, c: number): Mat => Array.from({ length: r }, () => new Array(c).fill(0));
const eye = (n: number): Mat => zeros(n, n).map((row, i) => row.map((_, j) => (i === j ? 1 : 0)));
const diag = (v: number[]): Mat => eye(v.length).map((row, i) => row.map((x) => x * v[i]!));
function matmul(a: Mat, b: Mat): Mat {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((acc, x, k) => acc + x * b[k]![j]!, 0)));
}
const column = (v: number[]): Mat => v.map((x) => [x]);

/** One mixer's state-space form over T steps: Λ_t [N,N], B_t [N,m], C_t [p,N], D [p,m]. */
interface StateSpace {
  lambda: Mat[];
  b: Mat[];
  c: Mat[];
  d?: Mat;
}

/** Φ[t][s] = C_t Λ_t ⋯ Λ_{s+1} B_s for s ≤ t (zero above the diagonal), plus D on it. */
function operator({ lambda, b, c, d }: StateSpace): Mat[][] {
  const T = lambda.length;
  const n = lambda[0]!.length;
  return Array.from({ length: T }, (_, t) => {
    const row: Mat[] = Array.from({ length: T }, () => zeros(c[t]!.length, b[0]![0]!.length));
    let carry = eye(n); // Λ_t ⋯ Λ_{s+1}
    for (let s = t; s >= 0; s--) {
      row[s] = matmul(matmul(c[t]!, carry), b[s]!);
      carry = matmul(carry, lambda[s]!);
    }
    if (d) row[t] = row[t]!.map((r, i) => r.map((x, j) => x + d[i]![j]!));
    return row;
  });
}

/** y_t = Σ_s Φ[t][s] u_s. */
function apply(phi: Mat[][], u: number[][]): number[][] {
  return phi.map((row) =>
    row.reduce(
      (acc, block, s) => acc.map((x, i) => x + matmul(block, column(u[s]!))[i]![0]!),
      new Array(row[0]!.length).fill(0),
    ),
  );
}

/** The recurrence itself, step by step: the same y as Φ u (a check of `operator`). */
function recur({ lambda, b, c, d }: StateSpace, u: number[][]): number[][] {
  let h: Mat = zeros(lambda[0]!.length, 1);
  return u.map((ut, t) => {
    h = matmul(lambda[t]!, h).map((r, i) => [r[0]! + matmul(b[t]!, column(ut))[i]![0]!]);
    const y = matmul(c[t]!, h).map((r) => r[0]!);
    return d ? y.map((x, i) => x + matmul(d, column(ut))[i]![0]!) : y;
  });
}

/** Seeded uniform numbers in [lo, hi). */
function random(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return (shape: number[], lo = -1, hi = 1): number[][] =>
    Array.from({ length: shape[0]! }, () =>
      Array.from({ length: shape[1]! }, () => lo + (hi - lo) * next()),
    );
}

const maxDiff = (a: number[][], b: number[][]) =>
  Math.max(...a.flatMap((row, i) => row.map((x, j) => Math.abs(x - b[i]![j]!))));
const dot = (a: number[], b: number[]) => a.reduce((acc, x, i) => acc + x * b[i]!, 0);
/** [T, d] rows -> a [1, 1, T, d] tensor (one batch, one head). */
const heads = (rows: number[][]) => tf.tensor4d(rows.flat(), [1, 1, rows.length, rows[0]!.length]);
const rowsOf = (t: tf.Tensor, width: number): number[][] => {
  const v = Array.from(t.dataSync());
  return Array.from({ length: v.length / width }, (_, i) => v.slice(i * width, (i + 1) * width));
};

/** Checks Φ u == the recurrence == the op's output, all three to 1e-5. */
function expectSameOperator(ss: StateSpace, u: number[][], op: number[][]): void {
  const viaOperator = apply(operator(ss), u);
  expect(maxDiff(viaOperator, recur(ss, u))).toBeLessThan(1e-9);
  expect(maxDiff(viaOperator, op)).toBeLessThan(1e-5);
}

const T = 7;

describe('the dynamical-systems view (Sieber et al. 2024): one state-space form, four mixers', () => {
  it('linear attention: Λ = I, B_t = φ(k_t) ⊗ I, C_t = φ(q_t)ᵀ ⊗ I / η_t (linearAttention)', () => {
    const [n, p] = [3, 2];
    const rnd = random(1);
    const phi = (rows: number[][]) => rows.map((r) => r.map((x) => (x > 0 ? x + 1 : Math.exp(x))));
    const [fq, fk, v] = [phi(rnd([T, n])), phi(rnd([T, n])), rnd([T, p])];
    // h = vec(S), S [n, p] at index i·p + j; u_t = v_t (W_V folded into the input).
    const kron = (f: number[]) =>
      zeros(n * p, p).map((row, ij) =>
        row.map((_, j) => (ij % p === j ? f[Math.floor(ij / p)]! : 0)),
      );
    const keySums = fk.map((_, t) =>
      fk.slice(0, t + 1).reduce((z, k) => z.map((x, i) => x + k[i]!)),
    );
    const eta = fq.map((q, t) => dot(q, keySums[t]!) + 1e-6); // the op's eps
    const ss: StateSpace = {
      lambda: fq.map(() => eye(n * p)),
      b: fk.map(kron),
      c: fq.map((q, t) => kron(q).map((r) => r.map((x) => x / eta[t]!))).map(transpose),
    };
    const op = tf.tidy(() =>
      rowsOf(
        linearAttention(heads(fq), heads(fk), heads(v), { normalize: true, form: 'parallel' })
          .output,
        p,
      ),
    );
    expectSameOperator(ss, v, op);
  });

  it('softmax attention: Λ = I, B_t = e_t ⊗ I (the KV cache grows), C_t = Σ_s α_ts e_sᵀ ⊗ I, α the normalised exp kernel', () => {
    const [dk, p] = [3, 2];
    const rnd = random(2);
    const [q, k, v] = [rnd([T, dk]), rnd([T, dk]), rnd([T, p])];
    const scale = 1 / Math.sqrt(dk);
    // The state holds one slot per token seen, [T, p] at index s·p + j: no finite constant size.
    const slot = (s: number, weight: number) =>
      zeros(T * p, p).map((row, sj) => row.map((_, j) => (sj === s * p + j ? weight : 0)));
    const alpha = q.map((qt, t) => {
      const e = k.slice(0, t + 1).map((ks) => Math.exp(scale * dot(qt, ks)));
      const sum = e.reduce((x, y) => x + y);
      return e.map((x) => x / sum);
    });
    const ss: StateSpace = {
      lambda: q.map(() => eye(T * p)),
      b: k.map((_, t) => slot(t, 1)),
      c: alpha.map((row) =>
        transpose(row.reduce((acc, a, s) => add(acc, slot(s, a)), zeros(T * p, p))),
      ),
    };
    const op = tf.tidy(() =>
      rowsOf(
        scaledDotProductAttention(heads(q), heads(k), heads(v), { causal: true, scale }).output,
        p,
      ),
    );
    expectSameOperator(ss, v, op);
  });

  it('S6 (Mamba), per channel: Λ_t = diag(exp(Δ_t A)), B_t = Δ_t B_t, C_t = C_tᵀ, D (linearRecurrence)', () => {
    const [channels, n] = [2, 3];
    const rnd = random(3);
    const u = rnd([T, channels]);
    const delta = rnd([T, channels], 0.05, 0.6);
    const a = rnd([channels, n], -2, -0.2); // A = -exp(A_log) < 0
    const [bm, cm] = [rnd([T, n]), rnd([T, n])]; // B_t, C_t shared by the channels (Alg. 2)
    const d = rnd([1, channels])[0]!;
    // The op: h_t = Ā_t ⊙ h_{t-1} + B̄_t u_t over [1, T, channels, n], then y = C·h + D u.
    const op = tf.tidy(() => {
      const decay = tf.tensor4d(
        delta.flatMap((dt) => dt.flatMap((x, c) => a[c]!.map((an) => Math.exp(x * an)))),
        [1, T, channels, n],
      );
      const drive = tf.tensor4d(
        delta.flatMap((dt, t) => dt.flatMap((x, c) => bm[t]!.map((bn) => x * bn * u[t]![c]!))),
        [1, T, channels, n],
      );
      const h = linearRecurrence(decay, drive, { form: 'chunk', chunkSize: 3 }).output;
      const y = tf.add(
        tf.sum(tf.mul(h, tf.tensor4d(cm.flat(), [1, T, 1, n])), 3),
        tf.mul(tf.tensor3d(u.flat(), [1, T, channels]), tf.tensor1d(d)),
      );
      return rowsOf(y, channels);
    });
    for (let c = 0; c < channels; c++) {
      const ss: StateSpace = {
        lambda: delta.map((dt) => diag(a[c]!.map((an) => Math.exp(dt[c]! * an)))),
        b: delta.map((dt, t) => column(bm[t]!.map((bn) => dt[c]! * bn))),
        c: cm.map((ct) => [ct]),
        d: [[d[c]!]],
      };
      const channel = (rows: number[][]) => rows.map((r) => [r[c]!]);
      expectSameOperator(ss, channel(u), channel(op));
    }
  });

  it('Mamba-2 (SSD), per head: Λ_t = exp(Δ_t a) I (a scalar), B_t = Δ_t B_t ⊗ I, C_t = C_tᵀ ⊗ I, D (linearAttention with a gate)', () => {
    const [n, p] = [3, 2];
    const rnd = random(4);
    const x = rnd([T, p]);
    const delta = rnd([T, 1], 0.05, 0.6).map((r) => r[0]!);
    const a = -0.8;
    const [bm, cm] = [rnd([T, n]), rnd([T, n])];
    const d = 0.3;
    // h = vec(S), S [n, p] at index i·p + j: S_t = exp(Δ_t a) S_{t-1} + B_tᵀ (Δ_t x_t).
    const kron = (f: number[]) =>
      zeros(n * p, p).map((row, ij) =>
        row.map((_, j) => (ij % p === j ? f[Math.floor(ij / p)]! : 0)),
      );
    const ss: StateSpace = {
      lambda: delta.map((dt) => diag(new Array(n * p).fill(Math.exp(dt * a)))),
      b: bm.map((bt, t) => kron(bt.map((v) => v * delta[t]!))),
      c: cm.map((ct) => transpose(kron(ct))),
      d: diag(new Array(p).fill(d)),
    };
    // The op, as mamba2 calls it: q = C, k = B, v = Δ·x, gate = Δ·a (log decay).
    const op = tf.tidy(() => {
      const v = heads(x.map((row, t) => row.map((xi) => xi * delta[t]!)));
      const gate = tf.tensor3d(
        delta.map((dt) => dt * a),
        [1, 1, T],
      );
      const r = linearAttention(heads(cm), heads(bm), v, { gate, form: 'chunk', chunkSize: 3 });
      return rowsOf(tf.add(r.output, tf.mul(heads(x), d)), p);
    });
    expectSameOperator(ss, x, op);
  });
});

function transpose(m: Mat): Mat {
  return m[0]!.map((_, j) => m.map((row) => row[j]!));
}

function add(a: Mat, b: Mat): Mat {
  return a.map((row, i) => row.map((x, j) => x + b[i]![j]!));
}
