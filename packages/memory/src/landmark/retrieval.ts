// Landmark attention at inference (Mohtashami & Jaggi 2023, "Landmark Attention", sec. 3.2 and
// 4): each query (per head) scores the landmarks of the earlier blocks, q·k_L, retrieves the topK
// best blocks and attends their tokens plus its own block. The grouped softmax of eq. 3 is a
// log-sum-exp merge in which block j's part is the softmax over its tokens and carries its
// landmark's logit in place of its own log-sum-exp:
//   o_i = merge({ attn(i's block), lse }, { attn(block j), q_i·k_{L_j}/√d } for j retrieved),
// so with topK = every earlier block it equals the dense grouped softmax, and each query reads
// only topK + 1 blocks of keys (no [tq, tk] logits but the [tq, blocks] landmark scores).
import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, checkInt, gatherRows } from '@attnkit/core';
import { mergeAttention, type AttentionPart } from '@attnkit/attention';
import { blockOf, landmarkGeometry, maskedSoftmax, paddedBlocks } from './layout';
import type { LandmarkGeometry, LandmarkOptions } from './layout';

const BLOCK = 'landmarkRetrievalAttention';
const LIMIT = 1e38;
const OUT = 3e38;

export interface LandmarkRetrievalOptions extends LandmarkOptions {
  /** Blocks retrieved per query and head (k of the paper). */
  topK: number;
  /** Refuse topK above the blocks the last query can retrieve (default: empty slots instead). */
  strict?: boolean;
}

export interface LandmarkRetrievalResult {
  /** [b, h, tq, dv] */
  output: tf.Tensor4D;
  /** int32 [b, h, tq, topK]: retrieved block indices (from key 0), best first; -1 empty. */
  selected: tf.Tensor4D;
}

/**
 * Retrieval landmark attention: q [b, h, tq, d] end-aligned with k [b, kvh, tk, d] and
 * v [b, kvh, tk, dv], landmarks at slot blockSize of every block of blockSize + 1 positions.
 * Differentiable w.r.t. q, k and v (the choice of blocks is data).
 */
export function landmarkRetrievalAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: LandmarkRetrievalOptions,
): LandmarkRetrievalResult {
  const g = landmarkGeometry(BLOCK, q, k, v, options);
  const topK = checkInt(BLOCK, 'topK', options.topK, 1);
  // The last query may retrieve every complete block before its own.
  const available = blockOf(g.keyLength - 1, g.period);
  if (options.strict && topK > available) {
    throw new ShapeError(
      BLOCK,
      'topK',
      `at most ${available} (the complete blocks before the last query)`,
      String(topK),
    );
  }
  return tf.tidy(() => {
    const { batch: b, heads: h, queryLength: tq, numBlocks: nb, period: P, blockSize: B } = g;
    const d = g.headDim;
    const dv = g.valueDim;
    const keys = tf.reshape(paddedBlocks(k, g), [b, h, nb, P, d]);
    const values = tf.reshape(paddedBlocks(v, g), [b, h, nb, P, dv]);
    const local = ownBlock(q, keys, values, g);

    // Landmark scores of the eligible (earlier, complete) blocks; the top ones win.
    const landmarks = tf.reshape(tf.slice(keys, [0, 0, 0, B, 0], [-1, -1, -1, 1, -1]), [
      b,
      h,
      nb,
      d,
    ]);
    const scores = tf.mul(tf.matMul(q, landmarks, false, true), g.scale);
    const selected = topBlocks(scores as tf.Tensor4D, g, topK);

    // Gather the retrieved blocks: [rows = b·h·tq, topK, P, ·].
    const rows = b * h * tq;
    const headBase = Array.from({ length: b * h * tq }, (_, r) => Math.floor(r / tq) * nb);
    const index = tf.reshape(
      tf.add(
        tf.reshape(tf.tensor1d(headBase, 'int32'), [b, h, tq, 1]),
        tf.maximum(selected, tf.scalar(0, 'int32')),
      ),
      [-1],
    ) as tf.Tensor1D;
    const gather = (x: tf.Tensor, width: number) =>
      gatherRows(tf.reshape(x, [b * h * nb, P * width]) as tf.Tensor2D, index);
    const blockKeys = tf.reshape(gather(keys, d), [rows, topK * P, d]);
    const blockValues = tf.reshape(gather(values, dv), [rows * topK, P, dv]);
    const logits = tf.reshape(
      tf.matMul(tf.reshape(tf.mul(q, g.scale), [rows, 1, d]), blockKeys, false, true),
      [rows * topK, 1, P],
    );
    // Each block's own softmax over its regular tokens (the landmark slot is out).
    const regular = tf.tensor1d(Array.from({ length: P }, (_, s) => (s < B ? 1 : 0)));
    const inBlock = tf.matMul(maskedSoftmax(logits, regular), blockValues); // [rows·topK, 1, dv]
    // tf.split, not slices (a slice's gradient pads to the whole input); its gradient needs 2+.
    const pieces = (x: tf.Tensor) => (topK === 1 ? [x] : tf.split(x, topK, 3));
    const outputs = pieces(tf.reshape(inBlock, [b, h, tq, topK * dv]));
    // Each part's weight in the merge is its landmark's logit (eq. 3); -Infinity when empty.
    const landmarkLogits = tf.reshape(
      tf.slice(tf.reshape(logits, [rows, topK, P]), [0, 0, B], [-1, -1, 1]),
      [b, h, tq, topK],
    );
    const gated = tf.where(
      tf.greaterEqual(selected, 0),
      landmarkLogits,
      tf.fill(landmarkLogits.shape, -Infinity),
    );
    const lses = pieces(gated);
    const parts: AttentionPart[] = [local];
    for (let s = 0; s < topK; s++) {
      parts.push({
        output: outputs[s] as tf.Tensor4D,
        logSumExp: tf.squeeze(lses[s]!, [3]) as tf.Tensor3D,
      });
    }
    return { output: mergeAttention(parts).output, selected };
  });
}

/**
 * Attention of each query over its own block (causal, the landmark slot only its own and left
 * out), with its log-sum-exp: the part of the shared group that is not retrieved.
 */
function ownBlock(
  q: tf.Tensor4D,
  keys: tf.Tensor,
  values: tf.Tensor,
  g: LandmarkGeometry,
): AttentionPart {
  const { batch: b, heads: h, queryLength: tq, period: P, blockSize: B, queryStart } = g;
  const first = blockOf(queryStart, P);
  const lead = queryStart - first * P;
  const count = Math.ceil((lead + tq) / P);
  const rows = b * h * count;
  const queries = tf.reshape(
    tf.pad(tf.mul(q, g.scale), [
      [0, 0],
      [0, 0],
      [lead, count * P - lead - tq],
      [0, 0],
    ]),
    [rows, P, g.headDim],
  );
  const own = (x: tf.Tensor, width: number) =>
    tf.reshape(tf.slice(x, [0, 0, first, 0, 0], [-1, -1, count, -1, -1]), [rows, P, width]);
  // Slot s sees slots up to s except the landmark slot (a landmark query sees its block).
  const visible = tf.tensor2d(
    Array.from({ length: P * P }, (_, i) => {
      const [query, key] = [Math.floor(i / P), i % P];
      return key <= query && key < B ? 1 : 0;
    }),
    [P, P],
  );
  const logits = tf.matMul(queries, own(keys, g.headDim), false, true); // [rows, P, P]
  const z = tf.add(logits, tf.mul(tf.sub(1, visible), -1e9));
  const max = tf.max(z, -1, true);
  const e = tf.mul(tf.exp(tf.sub(z, max)), visible);
  const sum = tf.sum(e, -1, true);
  const out = tf.div(tf.matMul(e, own(values, g.valueDim)), sum);
  const trim = (x: tf.Tensor, width: number) =>
    tf.slice(tf.reshape(x, [b, h, count * P, width]), [0, 0, lead, 0], [-1, -1, tq, -1]);
  return {
    output: trim(out, g.valueDim) as tf.Tensor4D,
    logSumExp: tf.squeeze(trim(tf.add(max, tf.log(sum)), 1), [3]) as tf.Tensor3D,
  };
}

/**
 * The topK highest landmark scores per query among the blocks before its own: int32
 * [b, h, tq, topK], best first, -1 where fewer blocks are eligible.
 */
function topBlocks(scores: tf.Tensor4D, g: LandmarkGeometry, topK: number): tf.Tensor4D {
  const { queryLength: tq, numBlocks: nb, period: P, queryStart } = g;
  const eligible = tf.tensor2d(
    Array.from({ length: tq * nb }, (_, i) =>
      i % nb < blockOf(queryStart + Math.floor(i / nb), P) ? 1 : 0,
    ),
    [tq, nb],
    'bool',
  );
  // Finite sentinels: cpu topk compares by subtraction, which ±Infinity breaks.
  const clipped = tf.clipByValue(scores, -LIMIT, LIMIT);
  const gated = tf.where(
    tf.broadcastTo(eligible, scores.shape),
    clipped,
    tf.fill(scores.shape, -OUT),
  );
  const count = Math.min(topK, nb);
  const { values, indices } = tf.topk(gated, count);
  let selected: tf.Tensor = tf.where(
    tf.lessEqual(values, -OUT),
    tf.fill(indices.shape, -1, 'int32'),
    indices,
  );
  if (count < topK) {
    selected = tf.pad(
      selected,
      [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, topK - count],
      ],
      -1,
    );
  }
  // Rebuilt from its values: the choice is data, off the tape (topk has no gradient).
  const shape = [...selected.shape] as [number, number, number, number];
  return tf.tensor4d(selected.dataSync() as Int32Array, shape, 'int32');
}
