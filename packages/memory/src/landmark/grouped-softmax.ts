// Landmark attention's training form (Mohtashami & Jaggi 2023, "Landmark Attention: Random-Access
// Infinite Context Length for Transformers", sec. 3.1, eq. 1-3): the grouped softmax.
//   σ_G(v, g)_x = exp(v_x) / Σ_{y: g_y = g_x} exp(v_y)                               (eq. 1)
// For query i the groups (eq. 2) are: each earlier block's regular tokens; and one shared group
// of i's own block's tokens (causal) with the landmarks of the earlier blocks (i's own landmark
// is left out, also when i is that landmark). With S = σ_G(q_i·K/√d, G_i), the weights (eq. 3)
// are S_ij for a token of i's block, S_ij · S_{i, landmark(j)} for a token of an earlier block,
// and 0 for every landmark: a landmark's share of the shared softmax gates its block.
import * as tf from '@tensorflow/tfjs-core';
import { blockOf, landmarkGeometry, maskedSoftmax, paddedBlocks } from './layout';
import type { LandmarkGeometry, LandmarkOptions } from './layout';

const BLOCK = 'landmarkGroupedAttention';

/**
 * Grouped-softmax landmark attention, dense: q [b, h, tq, d] end-aligned with k [b, kvh, tk, d]
 * and v [b, kvh, tk, dv] (grouped-query when kvh divides h); landmarks at slot blockSize of
 * every block of blockSize + 1 positions. Returns [b, h, tq, dv]. Builds [tq, tk] logits: the
 * training form and the exact reference of `landmarkRetrievalAttention`.
 */
export function landmarkGroupedAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: LandmarkOptions,
): { output: tf.Tensor4D } {
  const g = landmarkGeometry(BLOCK, q, k, v, options);
  return tf.tidy(() => {
    const { batch: b, heads: h, queryLength: tq, numBlocks: nb, period: P, blockSize: B } = g;
    const keys = paddedBlocks(k, g);
    const values = paddedBlocks(v, g);
    const logits = tf.mul(tf.matMul(q, keys, false, true), g.scale); // [b, h, tq, nb·P]
    const m = groupMasks(g);
    // eq. 2, the shared group: i's block (causal, no landmark) and the earlier landmarks.
    const shared = maskedSoftmax(logits, m.shared);
    // eq. 2, one group per earlier block: its regular tokens.
    const inBlock = maskedSoftmax(tf.reshape(logits, [b, h, tq, nb, P]), m.inBlock);
    // eq. 3: a landmark's shared weight gates its block; landmarks themselves get 0.
    const gate = tf.slice(
      tf.reshape(shared, [b, h, tq, nb, P]),
      [0, 0, 0, 0, B],
      [-1, -1, -1, -1, 1],
    );
    const weights = tf.add(
      tf.mul(shared, m.direct),
      tf.reshape(tf.mul(inBlock, gate), [b, h, tq, nb * P]),
    );
    return { output: tf.matMul(weights, values) as tf.Tensor4D };
  });
}

/**
 * The groups of eq. 2 as 0/1 masks over the padded keys: `shared` [tq, nb·P], `direct` (its
 * regular tokens) [tq, nb·P] and `inBlock` [tq, nb, P] (earlier blocks' regular tokens).
 */
function groupMasks(g: LandmarkGeometry): {
  shared: tf.Tensor2D;
  direct: tf.Tensor2D;
  inBlock: tf.Tensor3D;
} {
  const { queryLength: tq, numBlocks: nb, period: P, blockSize: B, queryStart } = g;
  const width = nb * P;
  const shared = new Float32Array(tq * width);
  const direct = new Float32Array(tq * width);
  const inBlock = new Float32Array(tq * width);
  for (let i = 0; i < tq; i++) {
    const position = queryStart + i;
    const own = blockOf(position, P);
    for (let j = 0; j < width; j++) {
      const [block, slot] = [blockOf(j, P), j % P];
      const at = i * width + j;
      if (block === own && slot < B && j <= position) direct[at] = shared[at] = 1;
      if (block < own) {
        if (slot === B) shared[at] = 1;
        else inBlock[at] = 1;
      }
    }
  }
  return {
    shared: tf.tensor2d(shared, [tq, width]),
    direct: tf.tensor2d(direct, [tq, width]),
    inBlock: tf.tensor3d(inBlock, [tq, nb, P]),
  };
}
