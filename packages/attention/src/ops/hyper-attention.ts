import * as tf from '@tensorflow/tfjs-core';
import {
  ShapeError,
  checkInt,
  checkRank,
  describe,
  formatShape,
  gatherRows,
  offTape,
} from '@attnkit/core';
import { mergeAttention, type AttentionPart } from './merge';
import { scaledDotProductAttention } from './sdpa';

const BLOCK = 'hyperAttention';

export interface HyperAttentionOptions {
  /** b: queries and keys per block of the sorted order (the paper's block size). */
  blockSize: number;
  /** Angular-LSH directions [headDim, bits]: a token's bucket is the sign pattern of x·R. */
  projection: tf.Tensor2D;
  /** Indices in [0, T) of the m keys sampled uniformly (with repetition); none: blocks only. */
  samples?: readonly number[];
  /** Logit multiplier; default 1/√headDim. */
  scale?: number;
}

/**
 * HyperAttention (Han et al. 2023, "HyperAttention: Long-context Attention in Near-Linear Time",
 * ICLR 2024; Algorithm 3, with Algorithm 1 (sortLSH) and Algorithm 2 (ApproxD)), bidirectional:
 *
 *   1. sortLSH (Algorithm 1): hash q and k with the same r-bit angular LSH, order the buckets so
 *      that neighbours differ in one bit (Gray code), sort q and k each by bucket; the mask M^H
 *      keeps query i and key j when their sorted positions fall in the same block of b.
 *   2. the residual (Algorithm 2, ApproxD): m keys drawn uniformly, each standing for T/m keys,
 *      a sampled key that M^H already holds for a query left out for that query (no key counted
 *      twice).
 *   3. both are softmax attention over disjoint key sets, so their log-sum-exps merge them into
 *      one normalised result (`mergeAttention`): out_i = (Σ_{j∈M_i} e^{s_ij} v_j + (T/m)
 *      Σ_{sampled j∉M_i} e^{s_ij} v_j) / (the same sums without v). That is the paper's D̃⁻¹ Ã V with
 *      one uniform sample serving both the normaliser and the product, as the authors' released
 *      code does; Algorithm 3's separate ℓ2-norm sampling of V's rows for the product is not used.
 *
 * Only what is selected is computed (gathers, no [T, T] matrix): O(T log T) to sort and
 * O(T·(b + m)·d) to attend, O(T·(b + m)) memory, per head. With b ≥ T one block holds every
 * key, every sample is left out, and this is exact softmax attention. The hashes, sort and
 * sample carry no gradient (discrete); the gradient flows through the gathered q, k, v.
 * q, k, v: [batch, heads, T, d] (the same T: self-attention). Returns output [b, h, T, dv] and
 * logSumExp [b, h, T] (of the estimate).
 */
export function hyperAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: HyperAttentionOptions,
): AttentionPart {
  const { t, bits, samples } = validate(q, k, v, options);
  const block = Math.min(options.blockSize, t);
  const scale = options.scale ?? 1 / Math.sqrt(q.shape[3]);
  const [output, logSumExp] = tf.tidy(() => {
    // The hashes and sorts are discrete: computed off the gradient tape, constants to autodiff
    // (the gradient reaches q, k, v through the gathers that use them).
    const plan = offTape(() => {
      const a = lshOrder(q, options.projection, bits);
      const b = lshOrder(k, options.projection, bits);
      return tf.concat([a.order, a.rank, b.order, b.rank], 2);
    });
    const [qOrder, qRank, kOrder, kRank] = tf.split(plan, 4, 2) as tf.Tensor3D[];
    const queries = { order: qOrder!, rank: qRank! };
    const keys = { order: kOrder!, rank: kRank! };
    const blocks = blockAttention(q, k, v, queries, keys, block, scale);
    const merged =
      samples.length === 0
        ? blocks
        : mergeAttention([
            blocks,
            sampleAttention(q, k, v, queries.rank, keys.rank, samples, block, scale),
          ]);
    return [merged.output, merged.logSumExp];
  });
  return { output: output as tf.Tensor4D, logSumExp: logSumExp as tf.Tensor3D };
}

/** sortLSH's order: `order` [b, h, T] the token at each sorted position, `rank` its inverse. */
export function lshOrder(
  x: tf.Tensor4D,
  projection: tf.Tensor2D,
  bits = projection.shape[1],
): { order: tf.Tensor3D; rank: tf.Tensor3D } {
  const [b, h, t, d] = x.shape;
  return tf.tidy(() => {
    const signs = tf.step(tf.matMul(tf.reshape(x, [-1, d]), projection)); // Gray-coded bucket bits
    // Gray decode: binary bit i is the parity of Gray bits i..r-1, so that consecutive buckets of
    // the order differ in one bit (the paper's Hamming-ordered buckets).
    const upper = tf.tensor2d(
      Array.from({ length: bits * bits }, (_, n) => (Math.floor(n / bits) >= n % bits ? 1 : 0)),
      [bits, bits],
    );
    const binary = tf.mod(tf.matMul(signs, upper), 2);
    const powers = tf.tensor2d(
      Array.from({ length: bits }, (_, i) => 2 ** i),
      [bits, 1],
    );
    const bucket = tf.cast(tf.reshape(tf.matMul(binary, powers), [b, h, t]), 'int32');
    // Ascending bucket, then ascending position (unique keys: a deterministic sort).
    const key = tf.add(
      tf.mul(bucket, tf.scalar(t, 'int32')),
      tf.reshape(tf.range(0, t, 1, 'int32'), [1, 1, t]),
    );
    const order = tf.topk(tf.neg(key), t).indices as tf.Tensor3D;
    const rank = tf.topk(tf.neg(order), t).indices as tf.Tensor3D;
    return { order, rank };
  });
}

/** x [b, h, T, d] gathered along T by per-head indices [b, h, n] -> [b, h, n, d]. */
function gatherTime(x: tf.Tensor4D, indices: tf.Tensor3D): tf.Tensor4D {
  const [b, h, t, d] = x.shape;
  const n = indices.shape[2];
  const offsets = tf.reshape(tf.mul(tf.range(0, b * h, 1, 'int32'), tf.scalar(t, 'int32')), [
    b,
    h,
    1,
  ]);
  const flat = tf.reshape(tf.add(indices, offsets), [-1]) as tf.Tensor1D;
  // core's gatherRows: tf.gather's gradient (UnsortedSegmentSum) is missing on wasm.
  const rows = gatherRows(tf.reshape(x, [b * h * t, d]) as tf.Tensor2D, flat);
  return tf.reshape(rows, [b, h, n, d]) as tf.Tensor4D;
}

/** M^H: exact attention within each block of `block` sorted queries and sorted keys. */
function blockAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  queries: { order: tf.Tensor3D; rank: tf.Tensor3D },
  keys: { order: tf.Tensor3D },
  block: number,
  scale: number,
): AttentionPart {
  const [b, h, t] = q.shape;
  const blocks = Math.ceil(t / block);
  const padded = blocks * block;
  const asBlocks = (x: tf.Tensor4D) => {
    const width = x.shape[3];
    const tail = tf.pad(x, [
      [0, 0],
      [0, 0],
      [0, padded - t],
      [0, 0],
    ]);
    return tf.reshape(tail, [b, h * blocks, block, width]) as tf.Tensor4D;
  };
  // Padding keys of the last block are masked out; padding queries are dropped below.
  const mask =
    padded === t
      ? undefined
      : tf.tensor4d(
          Array.from({ length: h * blocks * block }, (_, n) => {
            const inBlock = n % block;
            const index = Math.floor(n / block) % blocks;
            return index * block + inBlock < t ? 1 : 0;
          }),
          [1, h * blocks, 1, block],
          'bool',
        );
  const r = scaledDotProductAttention(
    asBlocks(gatherTime(q, queries.order)),
    asBlocks(gatherTime(k, keys.order)),
    asBlocks(gatherTime(v, keys.order)),
    { scale, causal: false, mask, returnLogSumExp: true },
  );
  const dv = v.shape[3];
  const sortedOut = tf.slice(tf.reshape(r.output, [b, h, padded, dv]), [0, 0, 0, 0], [b, h, t, dv]);
  const sortedLse = tf.slice(tf.reshape(r.logSumExp!, [b, h, padded, 1]), 0, [b, h, t, 1]);
  return {
    output: gatherTime(sortedOut as tf.Tensor4D, queries.rank),
    logSumExp: tf.reshape(gatherTime(sortedLse as tf.Tensor4D, queries.rank), [
      b,
      h,
      t,
    ]) as tf.Tensor3D,
  };
}

/** The sampled residual: m keys, each weighted T/m, minus those query i's block already holds. */
function sampleAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  queryRank: tf.Tensor3D,
  keyRank: tf.Tensor3D,
  samples: readonly number[],
  block: number,
  scale: number,
): AttentionPart {
  const t = q.shape[2];
  const m = samples.length;
  const picked = tf.tensor1d(samples as number[], 'int32');
  const blockOf = (rank: tf.Tensor) => tf.floorDiv(rank, tf.scalar(block, 'int32'));
  const sampledBlock = tf.gather(blockOf(keyRank), picked, 2); // [b, h, m]
  const mask = tf.notEqual(tf.expandDims(blockOf(queryRank), 3), tf.expandDims(sampledBlock, 2));
  const along = (x: tf.Tensor4D) =>
    gatherTime(
      x,
      tf.tile(tf.reshape(picked, [1, 1, m]), [x.shape[0], x.shape[1], 1]) as tf.Tensor3D,
    );
  const r = scaledDotProductAttention(q, along(k), along(v), {
    scale,
    causal: false,
    mask,
    returnLogSumExp: true,
  });
  return { output: r.output, logSumExp: tf.add(r.logSumExp!, Math.log(t / m)) as tf.Tensor3D };
}

function validate(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: HyperAttentionOptions,
): { t: number; bits: number; samples: readonly number[] } {
  checkRank(BLOCK, 'q', q, 4);
  checkRank(BLOCK, 'k', k, 4);
  checkRank(BLOCK, 'v', v, 4);
  const [b, h, t, d] = q.shape;
  const same = (x: tf.Tensor4D, last: number) =>
    x.shape[0] === b && x.shape[1] === h && x.shape[2] === t && x.shape[3] === last;
  if (!same(k, d)) {
    throw new ShapeError(
      BLOCK,
      'k',
      `shape ${formatShape(q.shape)} (as q)`,
      `shape ${formatShape(k.shape)}`,
    );
  }
  if (!same(v, v.shape[3])) {
    throw new ShapeError(
      BLOCK,
      'v',
      `shape [${b},${h},${t},dv] (q's first three axes)`,
      `shape ${formatShape(v.shape)}`,
    );
  }
  checkInt(BLOCK, 'blockSize', options.blockSize, 1);
  const p = options.projection;
  if (!(p instanceof tf.Tensor) || p.rank !== 2 || p.shape[0] !== d) {
    const got = p instanceof tf.Tensor ? `shape ${formatShape(p.shape)}` : describe(p);
    throw new ShapeError(BLOCK, 'projection', `a tensor [${d}, bits]`, got);
  }
  const bits = p.shape[1];
  // bucket·T + position must stay an exact int32.
  if (bits < 1 || 2 ** bits * t > 2 ** 31 - 1) {
    throw new ShapeError(
      BLOCK,
      'projection',
      `1..${Math.floor(31 - Math.log2(t))} bits for T=${t}`,
      `${bits} bits`,
    );
  }
  const samples = options.samples ?? [];
  if (!Array.isArray(samples) || !samples.every((s) => Number.isInteger(s) && s >= 0 && s < t)) {
    throw new ShapeError(BLOCK, 'samples', `key indices in [0, ${t})`, describe(samples));
  }
  return { t, bits, samples };
}
