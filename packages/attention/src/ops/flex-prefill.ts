import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, MASK_NEGATIVE, ShapeError, checkInt, checkNumber } from '@attnkit/core';
import { repeatKvHeads, validateScores } from './validate';

export interface FlexPrefillOptions {
  blockSize: number;
  /** Cumulative attention each head's chosen blocks (or lines) must cover, in (0, 1]. */
  gamma: number;
  /** Jensen-Shannon distance below which a head takes the query-aware pattern. */
  tau: number;
}

export interface FlexPrefillSelection {
  /** int32 [b, h, nb, kPerBlock]: causal key blocks per query block, -1 padded (for blockSparseAttention). */
  selected: tf.Tensor4D;
  /** Per batch row and head (b·h entries): 1 query-aware, 0 vertical-slash. */
  queryAware: number[];
}

/**
 * FlexPrefill's block selection (Lai et al. 2025, "FlexPrefill: A Context-Aware Sparse Attention
 * Mechanism for Efficient Long-Sequence Inference"), causal self-attention, T a multiple of the
 * block size. Per head: â = the last query block's attention, summed into key blocks and
 * averaged over its queries; ā = the estimate softmax(mean-pooled q · mean-pooled kᵀ/√d) for
 * that block. If √JSD(ā, â) < τ the head is query-aware: each query block keeps its key blocks
 * of largest estimated attention until they cover γ. Else vertical-slash: from the last block's
 * attention, the key columns (verticals) and diagonals (slashes) of largest mass until each set
 * covers γ, every block they cross kept. The query's own (diagonal) block is always kept (our
 * addition: no query is left without keys). The scores are data: no gradient. Materialises the
 * last block's [B, T] attention and the [nb, nb] block estimate, never [T, T].
 */
export function flexPrefillSelect(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  options: FlexPrefillOptions,
): FlexPrefillSelection {
  const block = 'flexPrefillSelect';
  const geo = validateScores(q, k, {}, block);
  const size = checkInt(block, 'blockSize', options.blockSize, 1);
  checkNumber(block, 'gamma', options.gamma, { min: 0, minExclusive: true, max: 1 });
  checkNumber(block, 'tau', options.tau, { min: 0 });
  const { batch: b, heads: h, queryLength: t, keyLength } = geo;
  if (keyLength !== t) {
    throw new ConfigError(
      block,
      'k',
      `as many keys as queries (${t}): prefill self-attention`,
      `${keyLength}`,
    );
  }
  if (t % size !== 0) {
    throw new ShapeError(block, 'q', `a length divisible by blockSize=${size}`, `${t}`);
  }
  const nb = t / size;
  const scale = 1 / Math.sqrt(geo.headDim);
  const [estimate, last] = tf.tidy(() => {
    const keys = repeatKvHeads(k, h);
    const pool = (x: tf.Tensor4D) => tf.mean(tf.reshape(x, [b, h, nb, size, -1]), 3);
    const blockCausal = tf.linalg.bandPart(tf.ones([nb, nb]), -1, 0);
    const est = tf.softmax(
      tf.where(
        tf.cast(blockCausal, 'bool'),
        tf.mul(tf.matMul(pool(q), pool(keys), false, true), scale),
        tf.scalar(MASK_NEGATIVE),
      ),
    ); // [b, h, nb, nb]
    const tail = tf.slice(q, [0, 0, t - size, 0], [-1, -1, size, -1]);
    const visible = tf.lessEqual(
      tf.reshape(tf.range(0, t, 1, 'int32'), [1, t]),
      tf.reshape(tf.range(t - size, t, 1, 'int32'), [size, 1]),
    );
    const lastRows = tf.softmax(
      tf.where(
        visible,
        tf.mul(tf.matMul(tail, keys, false, true), scale),
        tf.scalar(MASK_NEGATIVE),
      ),
    );
    return [est, lastRows]; // lastRows [b, h, size, t]
  });
  const est = estimate.arraySync() as number[][][][];
  const rows = last.arraySync() as number[][][][];
  tf.dispose([estimate, last]);

  const queryAware: number[] = [];
  const lists: number[][][][] = [];
  for (let bi = 0; bi < b; bi++) {
    const perHead: number[][][] = [];
    for (let hi = 0; hi < h; hi++) {
      const a = rows[bi]![hi]!;
      const truth = new Array<number>(nb).fill(0);
      a.forEach((row) => row.forEach((w, j) => (truth[Math.floor(j / size)]! += w / size)));
      const guess = est[bi]![hi]![nb - 1]!;
      const aware = Math.sqrt(jensenShannon(guess, truth)) < options.tau;
      queryAware.push(aware ? 1 : 0);
      const chosen = Array.from({ length: nb }, (_, i) => new Set<number>([i]));
      if (aware) {
        est[bi]![hi]!.forEach((row, i) =>
          cover(row.slice(0, i + 1), options.gamma).forEach((j) => chosen[i]!.add(j)),
        );
      } else {
        const vertical = new Array<number>(t).fill(0);
        const slash = new Array<number>(t).fill(0);
        a.forEach((row, r) =>
          row.forEach((w, j) => {
            const p = t - size + r;
            if (j > p) return;
            vertical[j]! += w / size;
            slash[p - j]! += w / size;
          }),
        );
        for (const j of cover(vertical, options.gamma)) {
          for (let i = Math.floor(j / size); i < nb; i++) chosen[i]!.add(Math.floor(j / size));
        }
        for (const o of cover(slash, options.gamma)) {
          for (let i = 0; i < nb; i++) {
            // Query positions iB..iB+B-1 see keys p - o on this diagonal.
            const lo = i * size - o;
            const hi2 = i * size + size - 1 - o;
            for (
              let kb = Math.floor(Math.max(lo, 0) / size);
              hi2 >= 0 && kb <= Math.floor(hi2 / size);
              kb++
            )
              chosen[i]!.add(kb);
          }
        }
      }
      perHead.push(chosen.map((s) => [...s].sort((x, y) => x - y)));
    }
    lists.push(perHead);
  }
  const width = Math.max(...lists.flat(2).map((l) => l.length));
  const flat = lists
    .flat(2)
    .flatMap((l) => [...l, ...new Array<number>(width - l.length).fill(-1)]);
  return { selected: tf.tensor4d(flat, [b, h, nb, width], 'int32'), queryAware };
}

/** Indices of `mass` in decreasing order (ties: lower index) until their sum reaches gamma. */
function cover(mass: number[], gamma: number): number[] {
  const total = mass.reduce((s, m) => s + m, 0);
  const order = mass.map((_, i) => i).sort((i, j) => mass[j]! - mass[i]! || i - j);
  const kept: number[] = [];
  let sum = 0;
  for (const i of order) {
    if (sum >= gamma * total) break;
    kept.push(i);
    sum += mass[i]!;
  }
  return kept;
}

/** Jensen-Shannon divergence (natural log) of two distributions. */
export function jensenShannon(p: number[], q: number[]): number {
  const kl = (a: number[], m: number[]) =>
    a.reduce((s, x, i) => (x > 0 ? s + x * Math.log(x / m[i]!) : s), 0);
  const m = p.map((x, i) => (x + q[i]!) / 2);
  return Math.max(0, (kl(p, m) + kl(q, m)) / 2);
}
