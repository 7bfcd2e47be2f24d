// Landmark attention at inference (Mohtashami & Jaggi 2023, "Landmark Attention", sec. 3.2 and
// 4): each query (per head) scores the landmarks of the earlier blocks, q·k_L, retrieves the topK
// best blocks and attends their tokens plus its own block (and the localBlocks blocks before it,
// always: the paper's local window, sec. 4.1). The grouped softmax of eq. 3 is a
// log-sum-exp merge in which block j's part is the softmax over its tokens and carries its
// landmark's logit in place of its own log-sum-exp:
//   o_i = merge({ attn(i's block), lse }, { attn(block j), q_i·k_{L_j}/√d } for j retrieved),
// so with topK = every earlier block it equals the dense grouped softmax, and each query reads
// only topK + localBlocks + 1 blocks of keys (no [tq, tk] logits, only [tq, blocks] scores).
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
  /** Blocks just before a query's own that it always attends, besides the topK (default 0). */
  localBlocks?: number;
  /**
   * Refuse topK + localBlocks above the blocks the last query can read (default: empty slots
   * instead).
   */
  strict?: boolean;
}

export interface LandmarkRetrievalResult {
  /** [b, h, tq, dv] */
  output: tf.Tensor4D;
  /**
   * int32 [b, h, tq, localBlocks + topK]: block indices (from key 0), the local blocks first,
   * then the retrieved ones best first; -1 empty.
   */
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
  const localBlocks = checkInt(BLOCK, 'localBlocks', options.localBlocks ?? 0, 0);
  const slots = topK + localBlocks;
  // The last query may read every complete block before its own.
  const available = blockOf(g.keyLength - 1, g.period);
  if (options.strict && slots > available) {
    const what = localBlocks > 0 ? `topK + localBlocks = ${slots}` : String(topK);
    throw new ShapeError(
      BLOCK,
      'topK',
      `at most ${available} blocks (the complete blocks before the last query)`,
      what,
    );
  }
  return tf.tidy(() => {
    const { batch: b, heads: h, queryLength: tq, numBlocks: nb, period: P, blockSize: B } = g;
    const d = g.headDim;
    const dv = g.valueDim;
    const keys = tf.reshape(paddedBlocks(k, g), [b, h, nb, P, d]);
    const values = tf.reshape(paddedBlocks(v, g), [b, h, nb, P, dv]);
    const own = ownBlock(q, keys, values, g);

    // Landmark scores of the eligible (earlier, complete) blocks; the top ones win.
    const landmarks = tf.reshape(tf.slice(keys, [0, 0, 0, B, 0], [-1, -1, -1, 1, -1]), [
      b,
      h,
      nb,
      d,
    ]);
    const scores = tf.mul(tf.matMul(q, landmarks, false, true), g.scale);
    const selected = topBlocks(scores as tf.Tensor4D, g, topK, localBlocks);

    // Gather the read blocks: [rows = b·h·tq, slots, P, ·].
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
    const blockKeys = tf.reshape(gather(keys, d), [rows, slots * P, d]);
    const blockValues = tf.reshape(gather(values, dv), [rows * slots, P, dv]);
    const logits = tf.reshape(
      tf.matMul(tf.reshape(tf.mul(q, g.scale), [rows, 1, d]), blockKeys, false, true),
      [rows * slots, 1, P],
    );
    // Each block's own softmax over its regular tokens (the landmark slot is out).
    const regular = tf.tensor1d(Array.from({ length: P }, (_, s) => (s < B ? 1 : 0)));
    const inBlock = tf.matMul(maskedSoftmax(logits, regular), blockValues); // [rows·slots, 1, dv]
    // tf.split, not slices (a slice's gradient pads to the whole input); its gradient needs 2+.
    const pieces = (x: tf.Tensor) => (slots === 1 ? [x] : tf.split(x, slots, 3));
    const outputs = pieces(tf.reshape(inBlock, [b, h, tq, slots * dv]));
    // Each part's weight in the merge is its landmark's logit (eq. 3); -Infinity when empty.
    const landmarkLogits = tf.reshape(
      tf.slice(tf.reshape(logits, [rows, slots, P]), [0, 0, B], [-1, -1, 1]),
      [b, h, tq, slots],
    );
    const gated = tf.where(
      tf.greaterEqual(selected, 0),
      landmarkLogits,
      tf.fill(landmarkLogits.shape, -Infinity),
    );
    const lses = pieces(gated);
    const parts: AttentionPart[] = [own];
    for (let s = 0; s < slots; s++) {
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
 * Per query, the `local` blocks just before its own, then the topK highest landmark scores among
 * the earlier ones: int32 [b, h, tq, local + topK], -1 where fewer blocks are eligible.
 */
function topBlocks(
  scores: tf.Tensor4D,
  g: LandmarkGeometry,
  topK: number,
  local: number,
): tf.Tensor4D {
  const { queryLength: tq, numBlocks: nb, period: P, queryStart } = g;
  // Per (query, block): 0 not eligible (own block or later), 1 by score, 2 local (forced in).
  const rule = Array.from({ length: tq * nb }, (_, i) => {
    const [own, block] = [blockOf(queryStart + Math.floor(i / nb), P), i % nb];
    return block >= own ? 0 : block >= own - local ? 2 : 1;
  });
  const kind = tf.tensor2d(rule, [tq, nb], 'int32');
  // Finite sentinels: cpu topk compares by subtraction, which ±Infinity breaks.
  const clipped = tf.clipByValue(scores, -LIMIT, LIMIT);
  const gated = tf.where(
    tf.broadcastTo(tf.equal(kind, 1), scores.shape),
    clipped,
    tf.broadcastTo(tf.mul(tf.sub(tf.cast(kind, 'float32'), 1), OUT), scores.shape),
  );
  const slots = local + topK;
  const count = Math.min(slots, nb);
  const { values, indices } = tf.topk(gated, count);
  let selected: tf.Tensor = tf.where(
    tf.lessEqual(values, -OUT),
    tf.fill(indices.shape, -1, 'int32'),
    indices,
  );
  if (count < slots) {
    selected = tf.pad(
      selected,
      [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, slots - count],
      ],
      -1,
    );
  }
  // Rebuilt from its values: the choice is data, off the tape (topk has no gradient).
  const shape = [...selected.shape] as [number, number, number, number];
  return tf.tensor4d(selected.dataSync() as Int32Array, shape, 'int32');
}
