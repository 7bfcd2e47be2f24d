import { TopK } from './topk';

/**
 * Lloyd's k-means (Lloyd 1982) on the rows of `data` [n, dim], row-major: centroids start at
 * evenly spaced rows (row ⌊c·n/k⌋, deterministic, so a decode or a restore trains the same
 * index), then `iterations` rounds of nearest-centroid assignment (L2) and mean update; a
 * centroid left without rows keeps its place. Returns the centroids [k, dim].
 */
export function kmeans(
  data: Float32Array,
  n: number,
  dim: number,
  k: number,
  iterations: number,
): Float32Array {
  const centroids = new Float32Array(k * dim);
  for (let c = 0; c < k; c++) {
    const s = Math.floor((c * n) / k);
    centroids.set(data.subarray(s * dim, (s + 1) * dim), c * dim);
  }
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  for (let it = 0; it < iterations; it++) {
    sums.fill(0);
    counts.fill(0);
    for (let s = 0; s < n; s++) {
      const c = nearestCentroid(centroids, k, dim, data, s);
      counts[c]!++;
      for (let j = 0; j < dim; j++) sums[c * dim + j]! += data[s * dim + j]!;
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue;
      for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j]! / counts[c]!;
    }
  }
  return centroids;
}

/** argmin_c ||x_s - c||² = argmax_c (x_s·c - ||c||²/2) over k centroids; ties to the lower c. */
export function nearestCentroid(
  centroids: Float32Array,
  k: number,
  dim: number,
  data: Float32Array,
  s: number,
): number {
  let [best, bestScore] = [0, -Infinity];
  for (let c = 0; c < k; c++) {
    let dot = 0;
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = centroids[c * dim + j]!;
      dot += data[s * dim + j]! * v;
      norm += v * v;
    }
    const score = dot - norm / 2;
    if (score > bestScore) [best, bestScore] = [c, score];
  }
  return best;
}

/** The `k` rows of `data` [n, dim] nearest to `point` in L2, nearest first (ties: lower row). */
export function nearestRows(
  data: Float32Array,
  n: number,
  dim: number,
  point: Float32Array,
  k: number,
): Int32Array {
  const top = new TopK(Math.min(k, n));
  for (let s = 0; s < n; s++) {
    let d2 = 0;
    for (let j = 0; j < dim; j++) {
      const diff = data[s * dim + j]! - point[j]!;
      d2 += diff * diff;
    }
    top.push(s, -d2);
  }
  return top.result().ids;
}
