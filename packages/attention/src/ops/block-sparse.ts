import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, MASK_NEGATIVE, checkNumber, gatherRows } from '@attnkit/core';
import { validateAttention } from './validate';
import { blockGeometry, checkSelected, type BlockGeometry } from './block-sparse-mask';
import { blockSparseKernel } from './block-sparse-kernel';

const BLOCK = 'blockSparseAttention';

export interface BlockSparseOptions {
  /** Tokens per query block and per key block. */
  blockSize: number;
  /**
   * int32 [batch, heads, numQueryBlocks, kPerBlock]: the key blocks each query block attends
   * to (see BlockGeometry for the numbering); -1 marks an empty slot, a repeated index counts
   * once. Typically from a key selector (key-selectors.ts).
   */
  selected: tf.Tensor4D;
  /** Key j is visible to the query at position p only when j <= p. */
  causal?: boolean;
  /** Logit multiplier; default 1/sqrt(headDim). */
  scale?: number;
  /** Position of the first query; default tk - tq (end-aligned, as sdpa). */
  queryOffset?: number;
  /** Also return logSumExp [batch, heads, tq] (-Infinity where no key is visible). */
  returnLogSumExp?: boolean;
}

export interface BlockSparseResult {
  /** [batch, heads, tq, dv]; 0 for a query that sees no key. */
  output: tf.Tensor4D;
  logSumExp?: tf.Tensor3D;
}

/**
 * Block-sparse attention: each query block attends only to its selected key blocks (MoBA,
 * Lu et al. 2025, sec. 2.2, eq. 2: softmax(q K[I]ᵀ) V[I] over the selected blocks' keys I).
 * The selected key/value blocks are gathered and attended to with a mask for empty or repeated
 * slots, the ragged last block and causality inside blocks, so logits are
 * [tq, kPerBlock·blockSize] rather than [tq, tk]: time and memory fall with sparsity. Equal, up to float error, to
 * `scaledDotProductAttention` with `blockSparseMask(selected, ...)` as its mask (except that
 * a query with no visible key gets output 0 here, the uniform average there). Differentiable
 * w.r.t. q, k and v; the selection itself is data, not differentiated. Runs the backend's
 * BLOCK_SPARSE_ATTENTION kernel when it registers one (block-sparse-kernel.ts).
 */
export function blockSparseAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: BlockSparseOptions,
): BlockSparseResult {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(BLOCK, 'options', '{ blockSize, selected, ... }', String(options));
  }
  if (options.scale !== undefined)
    checkNumber(BLOCK, 'scale', options.scale, { min: 0, minExclusive: true });
  const geo = validateAttention(q, k, v, {}, BLOCK);
  const g = blockGeometry(
    geo.queryLength,
    geo.keyLength,
    options.blockSize,
    options.queryOffset,
    BLOCK,
  );
  checkSelected(BLOCK, options.selected, geo.batch, geo.heads, g);
  const scale = options.scale ?? geo.scale;
  const causal = options.causal ?? false;
  const returnLogSumExp = Boolean(options.returnLogSumExp);
  const fused = blockSparseKernel(q, k, v, options.selected, g, { causal, scale, returnLogSumExp });
  if (fused) return fused;
  return tf.tidy(() => {
    const { batch: b, heads: h, kvHeads, headDim: d, valueDim: dv } = geo;
    const B = g.blockSize;
    const selected = options.selected;
    const nqb = g.numQueryBlocks;
    const kpb = selected.shape[3];
    const rows = b * h * nqb;

    // Row of (batch, kv head, key block) in the flattened key/value blocks, GQA-aware.
    const group = h / kvHeads;
    const base = Array.from(
      { length: b * h },
      (_, i) => (Math.floor(i / h) * kvHeads + Math.floor((i % h) / group)) * g.numKeyBlocks,
    );
    const index = tf.reshape(
      tf.add(
        tf.reshape(tf.tensor1d(base, 'int32'), [b, h, 1, 1]),
        tf.maximum(selected, tf.scalar(0, 'int32')),
      ),
      [-1],
    );
    const gatherBlocks = (x: tf.Tensor4D, width: number) => {
      const padded = tf.pad(x, [
        [0, 0],
        [0, 0],
        [0, g.numKeyBlocks * B - g.keyLength],
        [0, 0],
      ]);
      const blocks = tf.reshape(padded, [b * kvHeads * g.numKeyBlocks, B * width]);
      // core's gatherRows: tf.gather's gradient needs UnsortedSegmentSum (absent on wasm).
      return tf.reshape(gatherRows(blocks as tf.Tensor2D, index as tf.Tensor1D), [
        rows,
        kpb * B,
        width,
      ]);
    };
    const keys = gatherBlocks(k, d);
    const values = gatherBlocks(v, dv);
    // Scaled before the product: [tq, d] values rather than [tq, kPerBlock·B] logits.
    const queries = tf.reshape(
      tf.pad(tf.mul(q, scale), [
        [0, 0],
        [0, 0],
        [g.lead, nqb * B - g.lead - g.queryLength],
        [0, 0],
      ]),
      [rows, B, d],
    );

    // Hidden keys get the finite MASK_NEGATIVE added, so exp(·) is 0 for them next to any
    // visible key; a row that sees none is told apart by its max and zeroed.
    const hidden = tf.reshape(
      tf.where(visibility(selected, g, causal), tf.scalar(0), tf.scalar(MASK_NEGATIVE)),
      [rows, -1, kpb * B],
    );
    const logits = tf.add(tf.matMul(queries, keys, false, true), hidden); // [rows, B, kpb·B]
    const max = tf.max(logits, -1, true);
    // greaterEqual, not greater: tfjs registers a (zero) gradient only for the former.
    const seen = tf.greaterEqual(max, MASK_NEGATIVE / 2);
    const p = tf.exp(tf.sub(logits, max));
    const denom = tf.sum(p, -1, true);
    const out = tf.mul(tf.div(tf.matMul(p, values), denom), tf.cast(seen, 'float32'));
    const trim = (x: tf.Tensor, width: number) =>
      tf.slice(
        tf.reshape(x, [b, h, nqb * B, width]),
        [0, 0, g.lead, 0],
        [-1, -1, g.queryLength, -1],
      );
    const output = trim(out, dv) as tf.Tensor4D;
    if (!options.returnLogSumExp) return { output };
    const lse = tf.where(seen, tf.add(max, tf.log(denom)), tf.fill(max.shape, -Infinity));
    return { output, logSumExp: tf.squeeze(trim(lse, 1), [3]) as tf.Tensor3D };
  });
}

/**
 * Which gathered keys each query of each block sees: [b, h, nqb, B | 1, kpb·B] boolean. A slot
 * counts when it is not -1 and its index did not appear in an earlier slot; a key when it
 * exists (ragged last block) and, with causal, is not after the query.
 */
function visibility(selected: tf.Tensor4D, g: BlockGeometry, causal: boolean): tf.Tensor {
  const [b, h, nqb, kpb] = selected.shape;
  const B = g.blockSize;
  const earlier = tf.tensor2d(
    Array.from({ length: kpb * kpb }, (_, i) => (i % kpb < Math.floor(i / kpb) ? 1 : 0)),
    [kpb, kpb],
    'bool',
  );
  const same = tf.equal(tf.expandDims(selected, -1), tf.expandDims(selected, -2));
  const repeated = tf.any(tf.logicalAnd(same, earlier), -1);
  const slotOk = tf.logicalAnd(tf.greaterEqual(selected, 0), tf.logicalNot(repeated));
  // Key positions of the gathered keys: [b, h, nqb, kpb·B].
  const keyPos = tf.reshape(
    tf.add(tf.mul(tf.expandDims(selected, -1), tf.scalar(B, 'int32')), tf.range(0, B, 1, 'int32')),
    [b, h, nqb, kpb * B],
  );
  const slots = tf.reshape(tf.broadcastTo(tf.expandDims(slotOk, -1), [b, h, nqb, kpb, B]), [
    b,
    h,
    nqb,
    kpb * B,
  ]);
  let visible: tf.Tensor = tf.expandDims(tf.logicalAnd(slots, tf.less(keyPos, g.keyLength)), 3);
  if (causal) {
    const queryPos = tf.reshape(tf.add(tf.range(0, nqb * B, 1, 'int32'), g.firstBlock * B), [
      1,
      1,
      nqb,
      B,
      1,
    ]);
    visible = tf.logicalAnd(visible, tf.lessEqual(tf.expandDims(keyPos, 3), queryPos));
  }
  return visible;
}
