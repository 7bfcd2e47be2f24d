import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  checkInt,
  formatShape,
  gatherRows,
  scatterAddRows,
} from '@attnkit/core';
import { scaledDotProductAttention } from './sdpa';
import { validateAttention } from './validate';

const BLOCK = 'routingAttention';

/** Unit vectors along the last axis (spherical k-means works on these). */
export function unitNormalize<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.div(x, tf.add(tf.norm(x, 'euclidean', -1, true), 1e-6)) as T);
}

/**
 * Balanced routing (Roy et al. 2021, sec. 4.1, and its implementation): every cluster takes the
 * `clusterSize` tokens nearest its centroid, routes [b, h, t, d] (unit) against centroids
 * [h, c, d] (unit), so every cluster holds the same number of tokens; a token may sit in
 * several clusters or in none. Returns int32 [b, h, c, clusterSize] token indices, ascending
 * (so position order is index order inside a cluster). The choice is data, off the tape.
 */
export function routeBalanced(
  routes: tf.Tensor4D,
  centroids: tf.Tensor3D,
  clusterSize: number,
): tf.Tensor4D {
  const [b, h, t, d] = routes.shape;
  checkInt(BLOCK, 'clusterSize', clusterSize, 1);
  if (clusterSize > t) {
    throw new ConfigError(BLOCK, 'clusterSize', `at most the ${t} tokens`, String(clusterSize));
  }
  if (centroids.rank !== 3 || centroids.shape[0] !== h || centroids.shape[2] !== d) {
    throw new ShapeError(
      BLOCK,
      'centroids',
      `shape [${h},clusters,${d}]`,
      formatShape(centroids.shape),
    );
  }
  const c = centroids.shape[1];
  const indices = tf.tidy(() => {
    // [b, h, c, t]: each centroid's affinity to every token.
    // Broadcast explicitly: wasm's batched matMul misreads a batch dim of 1 against b.
    const shared = tf.broadcastTo(tf.expandDims(centroids, 0), [b, h, c, d]);
    const scores = tf.matMul(shared, routes, false, true);
    return tf.topk(scores, clusterSize).indices;
  });
  const flat = indices.dataSync();
  indices.dispose();
  const sorted = new Int32Array(flat.length);
  for (let r = 0; r < flat.length; r += clusterSize) {
    const row = Array.from(flat.subarray(r, r + clusterSize)).sort((x, y) => x - y);
    sorted.set(row, r);
  }
  return tf.tensor4d(sorted, [b, h, c, clusterSize], 'int32');
}

export interface ClusterAttentionOptions {
  /** Key j is visible to query i only when j <= i. */
  causal?: boolean;
  /** Logit multiplier; default 1/sqrt(headDim). */
  scale?: number;
  /** 'gather' (default): attention inside each gathered cluster; 'dense': masks on full attention. */
  form?: 'gather' | 'dense';
}

/**
 * Routing attention (Roy et al. 2021, sec. 4.1): inside each cluster of `members` [b, h, c, w]
 * (ascending token indices), softmax attention of its queries over its keys (j <= i when
 * causal); a token in several clusters averages their outputs, a token in none gets 0. The
 * sparse form gathers the clusters, so logits are [c, w, w], not [t, t]; the dense form is,
 * per cluster, the cluster-equality mask on full attention: the exact reference.
 * q, k, v: [b, h, t, d] (one key/value head per query head).
 */
export function clusterAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  members: tf.Tensor4D,
  options: ClusterAttentionOptions = {},
): tf.Tensor4D {
  const geo = validateAttention(q, k, v, {}, BLOCK);
  const { batch: b, heads: h, queryLength: t, headDim: d, valueDim: dv } = geo;
  if (geo.kvHeads !== h || geo.keyLength !== t) {
    throw new ShapeError(
      BLOCK,
      'k',
      `[${b},${h},${t},${d}] (self-attention, one key head per query head)`,
      formatShape(k.shape),
    );
  }
  if (
    !(members instanceof tf.Tensor) ||
    members.dtype !== 'int32' ||
    members.rank !== 4 ||
    members.shape[0] !== b ||
    members.shape[1] !== h
  ) {
    throw new ShapeError(
      BLOCK,
      'members',
      `int32 [${b},${h},clusters,clusterSize]`,
      members instanceof tf.Tensor
        ? `${members.dtype} ${formatShape(members.shape)}`
        : typeof members,
    );
  }
  const [, , c, w] = members.shape;
  const ids = members.dataSync();
  const bad = ids.findIndex((x) => x < 0 || x >= t);
  if (bad >= 0) {
    throw new ConfigError(
      BLOCK,
      'members',
      `token indices in 0..${t - 1}`,
      `${ids[bad]} at flat index ${bad}`,
    );
  }
  // How many clusters hold each token: its outputs are averaged over them.
  const counts = new Float32Array(b * h * t);
  ids.forEach((x, i) => (counts[Math.floor(i / (c * w)) * t + x]! += 1));
  const causal = options.causal ?? false;
  const scale = options.scale ?? geo.scale;
  return tf.tidy(() => {
    const divisor = tf.reshape(tf.tensor1d(counts.map((n) => Math.max(n, 1))), [b, h, t, 1]);
    if (options.form === 'dense') {
      const hot = tf.oneHot(members, t); // [b, h, c, w, t]
      let sum: tf.Tensor = tf.zeros([b, h, t, dv]);
      for (let i = 0; i < c; i++) {
        const inside = tf.cast(
          tf.sum(tf.squeeze(tf.slice(hot, [0, 0, i, 0, 0], [-1, -1, 1, -1, -1]), [2]), 2),
          'bool',
        ); // [b, h, t]
        const mask = tf.logicalAnd(tf.expandDims(inside, 3), tf.expandDims(inside, 2));
        const { output } = scaledDotProductAttention(q, k, v, { mask, causal, scale });
        sum = tf.add(sum, tf.mul(output, tf.expandDims(tf.cast(inside, 'float32'), 3)));
      }
      return tf.div(sum, divisor) as tf.Tensor4D;
    }
    const base = Array.from(
      { length: b * h * c * w },
      (_, i) => Math.floor(i / (c * w)) * t + ids[i]!,
    );
    const rows = tf.tensor1d(base, 'int32');
    const gather = (x: tf.Tensor4D, width: number) =>
      tf.reshape(gatherRows(tf.reshape(x, [b * h * t, width]) as tf.Tensor2D, rows), [
        b * h * c,
        w,
        width,
      ]);
    let logits: tf.Tensor = tf.matMul(
      gather(tf.mul(q, scale) as tf.Tensor4D, d),
      gather(k, d),
      false,
      true,
    );
    if (causal) {
      // Ascending members: position order is slot order, so causality is the lower triangle.
      logits = tf.where(
        tf.cast(tf.linalg.bandPart(tf.ones([w, w]), -1, 0), 'bool'), // bool bandPart is wrong on wasm
        logits,
        tf.fill([w, w], -1e9),
      );
    }
    const out = tf.matMul(tf.softmax(logits), gather(v, dv)); // [b·h·c, w, dv]
    const summed = scatterAddRows(tf.reshape(out, [-1, dv]) as tf.Tensor2D, rows, b * h * t);
    return tf.div(tf.reshape(summed, [b, h, t, dv]), divisor) as tf.Tensor4D;
  });
}

/**
 * One online mini-batch k-means step (Roy et al. 2021, sec. 4.1): each unit route [b, h, t, d]
 * goes to its nearest centroid; centroid μ_c ← λ μ_c + (1 − λ) · mean of its routes (kept
 * when none), renormalised to the unit sphere. Returns the new centroids [h, c, d].
 */
export function kmeansStep(
  routes: tf.Tensor4D,
  centroids: tf.Tensor3D,
  decay: number,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, h, t, d] = routes.shape;
    const c = centroids.shape[1];
    const scores = tf.matMul(routes, tf.expandDims(centroids, 0), false, true); // [b, h, t, c]
    const hot = tf.oneHot(tf.argMax(scores, -1), c); // [b, h, t, c]
    const byHead = tf.transpose(hot, [1, 3, 0, 2]); // [h, c, b, t]
    const sums = tf.matMul(
      tf.reshape(byHead, [h, c, b * t]),
      tf.reshape(tf.transpose(routes, [1, 0, 2, 3]), [h, b * t, d]),
    );
    const counts = tf.sum(tf.reshape(byHead, [h, c, b * t]), -1, true);
    const means = tf.div(sums, tf.maximum(counts, 1));
    const moved = tf.add(tf.mul(centroids, decay), tf.mul(means, 1 - decay));
    return unitNormalize(
      tf.where(tf.greater(tf.broadcastTo(counts, moved.shape), 0), moved, centroids),
    ) as tf.Tensor3D;
  });
}
