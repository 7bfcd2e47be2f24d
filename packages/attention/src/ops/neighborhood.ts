import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  MASK_NEGATIVE,
  ShapeError,
  checkInt,
  checkRank,
  formatShape,
  gatherRows,
} from '@attnkit/core';
import { scaledDotProductAttention } from './sdpa';

const BLOCK = 'neighborhoodAttention';

/**
 * Which keys each query of a [h, w] grid sees (Hassani et al. 2023, NAT, sec. 3.1; dilation:
 * Hassani & Shi 2022, DiNAT, sec. 3.1). Per axis of length L, kernel k (odd), dilation δ: the
 * query at i sits at p = ⌊i/δ⌋ among the positions ≡ i mod δ, of which there are L_g; its window
 * starts at s = clamp(p − ⌊k/2⌋, 0, L_g − k), so every query sees exactly k keys
 * (s + j)·δ + i mod δ, j < k; the relative offset s + j − p indexes NA's bias table. Causal
 * (1-D only): the keys i − (k − 1 − j)·δ, j < k, those before the start being empty slots.
 * A 2-D neighbourhood is the product of the two axes'.
 */
export interface Neighborhood {
  /** Queries T = h·w, slots per query K = kh·kw, and key rows (T, or a cache's kept keys). */
  length: number;
  size: number;
  keyLength: number;
  /** [T·K], query-major: the key each slot reads (the query itself for an empty slot). */
  keys: Int32Array;
  /** `[T·K]`: the slot's entry in a (2kh − 1)·(2kw − 1) relative position table. */
  relative: Int32Array;
  /** `[T·K]`: 0 for an empty slot (before the start of a causal window). */
  valid: Uint8Array;
  /** Entries of the relative position table, (2kh − 1)·(2kw − 1). */
  tableSize: number;
}

export interface NeighborhoodOptions {
  /** [h, w] grid of the tokens in raster order; [1, T] is a sequence. */
  grid: [number, number];
  /** [kh, kw] odd window sizes. */
  kernel: [number, number];
  /** [δh, δw]; default [1, 1]. */
  dilation?: [number, number];
  /** Only earlier keys (a sequence: grid [1, T]). */
  causal?: boolean;
}

/** One axis: for each position, its k (key, relative index, valid) slots. */
function axis(length: number, k: number, dilation: number, causal: boolean) {
  const slots: { key: number; rel: number; valid: boolean }[][] = [];
  for (let i = 0; i < length; i++) {
    const row = [];
    if (causal) {
      for (let j = 0; j < k; j++) {
        const key = i - (k - 1 - j) * dilation;
        row.push({ key: key >= 0 ? key : i, rel: j, valid: key >= 0 });
      }
    } else {
      const g = i % dilation;
      const p = Math.floor(i / dilation);
      const groupLength = Math.floor((length - 1 - g) / dilation) + 1;
      const start = Math.min(Math.max(p - (k >> 1), 0), groupLength - k);
      for (let j = 0; j < k; j++) {
        row.push({ key: (start + j) * dilation + g, rel: start + j - p + k - 1, valid: true });
      }
    }
    slots.push(row);
  }
  return slots;
}

/** The neighbourhood of every query on a grid; throws when a window does not fit. */
export function neighborhood(options: NeighborhoodOptions, block = BLOCK): Neighborhood {
  const { grid, kernel, dilation = [1, 1], causal = false } = options;
  const names = ['height', 'width'];
  for (let a = 0; a < 2; a++) {
    checkInt(block, `grid ${names[a]}`, grid[a]!, 1);
    checkInt(block, `kernel ${names[a]}`, kernel[a]!, 1);
    checkInt(block, `dilation ${names[a]}`, dilation[a]!, 1);
    if (kernel[a]! % 2 === 0) {
      throw new ConfigError(block, `kernel ${names[a]}`, 'an odd size', String(kernel[a]));
    }
    if (!causal && kernel[a]! * dilation[a]! > grid[a]!) {
      throw new ConfigError(
        block,
        `kernel ${names[a]}`,
        `kernel × dilation <= the grid's ${names[a]} ${grid[a]}`,
        `${kernel[a]} × ${dilation[a]}`,
      );
    }
  }
  if (causal && grid[0] !== 1) {
    throw new ConfigError(block, 'causal', 'a sequence (grid height 1)', `grid ${grid.join('×')}`);
  }
  const [rows, cols] = [
    axis(grid[0], kernel[0], dilation[0], false),
    axis(grid[1], kernel[1], dilation[1], causal),
  ];
  const length = grid[0] * grid[1];
  const size = kernel[0] * kernel[1];
  const keys = new Int32Array(length * size);
  const relative = new Int32Array(length * size);
  const valid = new Uint8Array(length * size);
  const width = 2 * kernel[1] - 1;
  let n = 0;
  for (let r = 0; r < grid[0]; r++) {
    for (let c = 0; c < grid[1]; c++) {
      for (const a of rows[r]!) {
        for (const b of cols[c]!) {
          keys[n] = a.key * grid[1] + b.key;
          relative[n] = a.rel * width + b.rel;
          valid[n++] = a.valid && b.valid ? 1 : 0;
        }
      }
    }
  }
  return {
    length,
    size,
    keyLength: length,
    keys,
    relative,
    valid,
    tableSize: (2 * kernel[0] - 1) * width,
  };
}

/**
 * Causal 1-D neighbourhoods of queries at `queryPositions` over keys at `keyPositions` (a
 * decoding cache's kept keys, or the sequence itself): slot j reads the key at position
 * p − (k − 1 − j)·δ, an empty slot when that key is absent (before the start).
 */
export function causalNeighborhood(
  queryPositions: number[],
  keyPositions: number[],
  kernel: number,
  dilation = 1,
  block = BLOCK,
): Neighborhood {
  checkInt(block, 'kernel width', kernel, 1);
  checkInt(block, 'dilation width', dilation, 1);
  const row = new Map(keyPositions.map((p, i) => [p, i]));
  const size = kernel;
  const keys = new Int32Array(queryPositions.length * size);
  const relative = new Int32Array(queryPositions.length * size);
  const valid = new Uint8Array(queryPositions.length * size);
  queryPositions.forEach((p, i) => {
    const self = row.get(p);
    if (self === undefined) {
      throw new ShapeError(block, 'keyPositions', `the query's own position ${p}`, 'absent');
    }
    for (let j = 0; j < size; j++) {
      const key = row.get(p - (size - 1 - j) * dilation);
      keys[i * size + j] = key ?? self;
      relative[i * size + j] = j;
      valid[i * size + j] = key === undefined ? 0 : 1;
    }
  });
  const length = queryPositions.length;
  return {
    length,
    size,
    keyLength: keyPositions.length,
    keys,
    relative,
    valid,
    tableSize: 2 * kernel - 1,
  };
}

export interface NeighborhoodAttentionOptions {
  /** Logit multiplier; default 1/√headDim. */
  scale?: number;
  /** NA's relative position bias, [heads, tableSize] (Hassani et al. 2023, eq. 2). */
  bias?: tf.Tensor2D;
}

/** [b, h, T, d] -> [T, b·h·d], so one gatherRows reads every head's row of a key at once. */
const byToken = (x: tf.Tensor4D) => {
  const [b, h, t, d] = x.shape;
  return tf.reshape(tf.transpose(x, [2, 0, 1, 3]), [t, b * h * d]) as tf.Tensor2D;
};

/** The K neighbours of each query, [b·h·T, K, d]: only the selected rows, never T×T. */
function gatherNeighbors(x: tf.Tensor4D, ids: tf.Tensor1D, nb: Neighborhood): tf.Tensor3D {
  const [b, h, , d] = x.shape;
  const t = nb.length;
  const rows = tf.reshape(gatherRows(byToken(x), ids), [t, nb.size, b, h, d]);
  return tf.reshape(tf.transpose(rows, [2, 3, 0, 1, 4]), [b * h * t, nb.size, d]) as tf.Tensor3D;
}

function checkInputs(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, nb: Neighborhood) {
  checkRank(BLOCK, 'q', q, 4);
  checkRank(BLOCK, 'k', k, 4);
  checkRank(BLOCK, 'v', v, 4);
  const [b, h, t, d] = q.shape;
  if (t !== nb.length) {
    throw new ShapeError(BLOCK, 'q', `${nb.length} tokens (the grid)`, formatShape(q.shape));
  }
  const want = [b, h, nb.keyLength, d];
  if (k.shape.join() !== want.join()) {
    throw new ShapeError(BLOCK, 'k', `shape ${formatShape(want)}`, formatShape(k.shape));
  }
  if (v.shape[0] !== b || v.shape[1] !== h || v.shape[2] !== nb.keyLength) {
    throw new ShapeError(BLOCK, 'v', `shape [${b},${h},${nb.keyLength},dv]`, formatShape(v.shape));
  }
  return d;
}

function checkBias(bias: tf.Tensor2D | undefined, heads: number, nb: Neighborhood) {
  if (bias && (bias.rank !== 2 || bias.shape[0] !== heads || bias.shape[1] !== nb.tableSize)) {
    throw new ShapeError(
      BLOCK,
      'bias',
      `shape [${heads},${nb.tableSize}]`,
      formatShape(bias.shape),
    );
  }
}

/**
 * Neighbourhood attention (Hassani et al. 2023, eq. 2): softmax(q_i K_ρ(i)ᵀ·scale + B_ρ(i)) V_ρ(i)
 * over each query's K neighbours ρ(i), gathered with gatherRows, so the logits are [T, K] and
 * never [T, T]. q, k [b, h, T, d], v [b, h, T, dv] -> [b, h, T, dv]; differentiable in q, k, v and
 * the bias table.
 */
export function neighborhoodAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  nb: Neighborhood,
  options: NeighborhoodAttentionOptions = {},
): tf.Tensor4D {
  const d = checkInputs(q, k, v, nb);
  const [b, h, t] = q.shape;
  checkBias(options.bias, h, nb);
  return tf.tidy(() => {
    const ids = tf.tensor1d(nb.keys, 'int32');
    const keys = gatherNeighbors(k, ids, nb);
    const values = gatherNeighbors(v, ids, nb);
    const scale = options.scale ?? 1 / Math.sqrt(d);
    const rows = tf.reshape(q, [b * h * t, 1, d]);
    let logits = tf.reshape(tf.matMul(rows, keys, false, true), [b, h, t, nb.size]);
    logits = tf.mul(logits, scale);
    if (options.bias) {
      const rel = gatherRows(
        tf.transpose(options.bias) as tf.Tensor2D,
        tf.tensor1d(nb.relative, 'int32'),
      );
      logits = tf.add(logits, tf.reshape(tf.transpose(rel), [1, h, t, nb.size]));
    }
    if (nb.valid.includes(0)) {
      const empty = Array.from(nb.valid, (ok) => (ok ? 0 : MASK_NEGATIVE));
      logits = tf.add(logits, tf.tensor4d(empty, [1, 1, t, nb.size]));
    }
    const weights = tf.reshape(tf.softmax(logits), [b * h * t, 1, nb.size]);
    return tf.reshape(tf.matMul(weights, values), [b, h, t, v.shape[3]]) as tf.Tensor4D;
  });
}

/** The neighbourhood as a boolean [1, 1, T, keys] mask: the dense reference's selection. */
export function neighborhoodMask(nb: Neighborhood): tf.Tensor4D {
  const mask = new Uint8Array(nb.length * nb.keyLength);
  nb.keys.forEach((key, n) => {
    if (nb.valid[n]) mask[Math.floor(n / nb.size) * nb.keyLength + key] = 1;
  });
  return tf.tidy(() =>
    tf.cast(tf.tensor4d(mask, [1, 1, nb.length, nb.keyLength], 'int32'), 'bool'),
  ) as tf.Tensor4D;
}

/**
 * The exact dense reference: full attention (scaledDotProductAttention) with the neighbourhood as
 * its mask and the bias table scattered to [1, h, T, T]. O(T²): for tests and benchmarks.
 */
export function neighborhoodAttentionDense(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  nb: Neighborhood,
  options: NeighborhoodAttentionOptions = {},
): tf.Tensor4D {
  checkInputs(q, k, v, nb);
  const h = q.shape[1];
  checkBias(options.bias, h, nb);
  return tf.tidy(() => {
    const mask = neighborhoodMask(nb);
    let bias: tf.Tensor | undefined;
    if (options.bias) {
      // Table index of each (query, key) pair; outside the neighbourhood an extra zero entry.
      const index = new Int32Array(nb.length * nb.keyLength).fill(nb.tableSize);
      nb.keys.forEach((key, n) => {
        if (nb.valid[n]) index[Math.floor(n / nb.size) * nb.keyLength + key] = nb.relative[n]!;
      });
      const table = tf.concat([tf.transpose(options.bias), tf.zeros([1, h])]) as tf.Tensor2D;
      const dense = gatherRows(table, tf.tensor1d(index, 'int32'));
      bias = tf.reshape(tf.transpose(dense), [1, h, nb.length, nb.keyLength]);
    }
    return scaledDotProductAttention(q, k, v, { mask, bias, scale: options.scale }).output;
  });
}
