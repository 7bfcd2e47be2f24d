import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  NamedRegistry,
  Rng,
  ShapeError,
  checkInt,
  describe,
  formatShape,
  getGlobalRng,
} from '@attnkit/core';

/**
 * Feature maps φ for linear attention: sim(q, k) = φ(q)·φ(k) replaces exp(q·k/√d), so
 * attention becomes φ(Q) (φ(K)ᵀ V) (Katharopoulos et al. 2020 eq. 4). A map is built per
 * head size by a factory registered in `featureMaps`; users register their own the same way.
 */
export type FeatureRole = 'query' | 'key';

export interface FeatureMap {
  /** Size of φ(x)'s last axis. */
  readonly outDim: number;
  /** φ over the last axis: [..., headDim] -> [..., outDim]. `role` lets a map treat q and k apart. */
  apply(x: tf.Tensor, role: FeatureRole): tf.Tensor;
  /** Non-trainable tensors the map owns (e.g. a random projection), by name, for saving. */
  buffers(): Record<string, tf.Tensor>;
  /** Replaces the buffers' values (restoring a checkpoint); same names and shapes. */
  loadBuffers?(values: Record<string, tf.Tensor>): void;
  /** Draws new random buffers (e.g. Performer's periodic redraw). */
  redraw?(rng: Rng): void;
  /** Frees the buffers. */
  dispose(): void;
}

export interface FeatureMapOptions {
  /** Size of the input's last axis (the head size). */
  headDim: number;
  /** Number of random features, for maps that draw them. */
  numFeatures?: number;
  /** Generator for random buffers; default the global one (see `setSeed`). */
  rng?: Rng;
}

export type FeatureMapFactory = (options: FeatureMapOptions) => FeatureMap;

/** name -> factory. `featureMaps.register('mine', factory, { paper, equation, summary })`. */
export const featureMaps = new NamedRegistry<FeatureMapFactory>('featureMap');

/** Builds the registered map `name` for a head size (errors list the registered names). */
export function makeFeatureMap(name: string, options: FeatureMapOptions): FeatureMap {
  const factory = featureMaps.get(name, 'featureMap');
  checkInt(`featureMap '${name}'`, 'headDim', options.headDim, 1);
  return factory(options);
}

function checkInput(block: string, x: tf.Tensor, headDim: number): void {
  if (!(x instanceof tf.Tensor) || x.rank < 1 || x.shape[x.rank - 1] !== headDim) {
    const got = x instanceof tf.Tensor ? `shape ${formatShape(x.shape)}` : describe(x);
    throw new ShapeError(block, 'x', `a tensor with last axis ${headDim}`, got);
  }
}

function refuseFeatureCount(block: string, options: FeatureMapOptions): void {
  if (options.numFeatures !== undefined) {
    throw new ConfigError(
      block,
      'numFeatures',
      'none (this map has no random features)',
      describe(options.numFeatures),
    );
  }
}

/** A map with no buffers: φ(x) = f(x) elementwise or by a fixed expansion. */
function deterministic(
  name: string,
  outDim: (d: number) => number,
  f: (x: tf.Tensor, d: number) => tf.Tensor,
): FeatureMapFactory {
  return (options) => {
    const block = `featureMap '${name}'`;
    refuseFeatureCount(block, options);
    const d = options.headDim;
    return {
      outDim: outDim(d),
      apply: (x) => {
        checkInput(block, x, d);
        return tf.tidy(() => f(x, d));
      },
      buffers: () => ({}),
      dispose: () => {},
    };
  };
}

featureMaps.register(
  'elu+1',
  deterministic(
    'elu+1',
    (d) => d,
    (x) => tf.add(tf.elu(x), 1),
  ),
  {
    paper: 'Katharopoulos et al. 2020, Transformers are RNNs',
    equation: 'sec. 3.2.1, eq. 7: φ(x) = elu(x) + 1',
    summary: 'Positive, smooth, dimension-preserving map of the original linear transformer.',
    example: { featureMap: 'elu+1' },
  },
);

featureMaps.register(
  'relu',
  deterministic(
    'relu',
    (d) => d,
    (x) => tf.relu(x),
  ),
  {
    paper:
      'Qin et al. 2022, The Devil in Linear Transformer (cosFormer) / Katharopoulos et al. 2020',
    equation: 'φ(x) = max(x, 0)',
    summary:
      'Non-negative dimension-preserving map; pair it with normalisation or a norm on the output.',
    example: { featureMap: 'relu' },
  },
);

featureMaps.register(
  'taylor',
  deterministic(
    'taylor',
    (d) => 1 + d + d * d,
    (x, d) => {
      // Based: x / d^(1/4), so φ(q)·φ(k) = 1 + s + s²/2 with s = q·k/√d (softmax's logit).
      const scaled = tf.div(x, Math.pow(d, 0.25));
      const lead = x.shape.slice(0, -1);
      const outer = tf.mul(tf.expandDims(scaled, -1), tf.expandDims(scaled, -2));
      const second = tf.div(tf.reshape(outer, [...lead, d * d]), Math.SQRT2);
      return tf.concat([tf.ones([...lead, 1]), scaled, second], -1);
    },
  ),
  {
    paper:
      'Arora et al. 2024, Simple linear attention language models balance the recall-throughput tradeoff (Based)',
    equation:
      'sec. 4: φ(x) = [1, x/d^¼, vec(x xᵀ)/(√2 √d)], the 2nd-order Taylor expansion of exp(q·k/√d)',
    summary: 'Exact 2nd-order Taylor kernel 1 + s + s²/2 of softmax logits s; outDim 1 + d + d².',
    example: { featureMap: 'taylor' },
  },
);

featureMaps.register('softmax-kernel', positiveRandomFeatures, {
  paper: 'Choromanski et al. 2021, Rethinking Attention with Performers (FAVOR+)',
  equation:
    'Lemma 1 (positive random features): φ(x) = exp(ωᵢ·x - |x|²/2)/√m, ω orthogonal Gaussian (sec. 2.4), x = input/d^¼',
  summary:
    'Unbiased positive random features of exp(q·k/√d) with a redrawable orthogonal projection.',
  example: { featureMap: 'softmax-kernel', numFeatures: 64 },
});

/**
 * FAVOR+ (Choromanski et al. 2021, Lemma 1): for ω ~ N(0, I_d),
 * E[exp(ω·x - |x|²/2) exp(ω·y - |y|²/2)] = exp(x·y), so with m draws φ(q)·φ(k) is an
 * unbiased, always positive estimate of exp(q·k/√d) once inputs are scaled by d^(-1/4).
 * Draws are orthogonal in blocks of d (sec. 2.4, lower variance): Gram-Schmidt on Gaussian
 * rows, each rescaled to the norm of an independent Gaussian vector so every row is still
 * marginally N(0, I). Drawn in JavaScript from core's seeded Rng (same on every backend).
 */
function positiveRandomFeatures(options: FeatureMapOptions): FeatureMap {
  const block = "featureMap 'softmax-kernel'";
  const d = options.headDim;
  const m = checkInt(block, 'numFeatures', options.numFeatures ?? defaultFeatures(d), 1);
  checkOrthogonalWork(block, d, m);
  let projection = orthogonalGaussian(d, m, options.rng ?? getGlobalRng());
  return {
    outDim: m,
    apply(x) {
      checkInput(block, x, d);
      return tf.tidy(() => {
        const scaled = tf.div(x, Math.pow(d, 0.25));
        const lead = x.shape.slice(0, -1);
        const flat = tf.reshape(scaled, [-1, d]);
        const proj = tf.reshape(tf.matMul(flat, projection), [...lead, m]);
        const half = tf.mul(tf.sum(tf.square(scaled), -1, true), 0.5);
        return tf.div(tf.exp(tf.sub(proj, half)), Math.sqrt(m));
      });
    },
    buffers: () => ({ projection }),
    loadBuffers(values) {
      const next = values.projection;
      if (
        !(next instanceof tf.Tensor) ||
        next.rank !== 2 ||
        next.shape[0] !== d ||
        next.shape[1] !== m
      ) {
        const got = next instanceof tf.Tensor ? `shape ${formatShape(next.shape)}` : describe(next);
        throw new ShapeError(block, 'projection', `shape [${d},${m}]`, got);
      }
      const copy = tf.clone(next) as tf.Tensor2D;
      projection.dispose();
      projection = copy;
    },
    redraw(rng) {
      const next = orthogonalGaussian(d, m, rng);
      projection.dispose();
      projection = next;
    },
    dispose() {
      projection.dispose();
    },
  };
}

/**
 * Most arithmetic one orthogonal draw may take: ⌈m/d⌉ Gram-Schmidt blocks of d³ each. A config
 * within the byte limits (headDim 16000, one feature) would otherwise run for hours (issue 16).
 */
export const MAX_ORTHOGONAL_WORK = 2 ** 32;

/** Refuses a headDim / numFeatures pair whose orthogonal draw exceeds MAX_ORTHOGONAL_WORK. */
export function checkOrthogonalWork(block: string, d: number, m: number, path = ''): void {
  const work = Math.ceil(m / d) * d ** 3;
  if (work > MAX_ORTHOGONAL_WORK) {
    throw new ConfigError(
      block,
      `${path}headDim`,
      `headDim³·⌈numFeatures/headDim⌉ <= 2^32 (the orthogonal draw's work)`,
      `headDim ${d}, numFeatures ${m}: ${work.toExponential(2)}`,
    );
  }
}

/** Performer's default m = d·ln d (at least d). */
export function defaultFeatures(d: number): number {
  return Math.max(d, Math.round(d * Math.log(d)));
}

/** [d, m]: columns are m Gaussian directions, orthogonal within each block of d. */
function orthogonalGaussian(d: number, m: number, rng: Rng): tf.Tensor2D {
  const values = new Float32Array(d * m);
  for (let start = 0; start < m; start += d) {
    const rows = gramSchmidt(d, rng);
    for (let r = 0; r < Math.min(d, m - start); r++) {
      let norm = 0;
      for (let i = 0; i < d; i++) norm += rng.normal() ** 2;
      const length = Math.sqrt(norm);
      for (let i = 0; i < d; i++) values[i * m + start + r] = rows[r]![i]! * length;
    }
  }
  return tf.tensor2d(values, [d, m]);
}

/** d orthonormal rows from Gaussian draws (redrawing the rare near-dependent one). */
function gramSchmidt(d: number, rng: Rng): Float64Array[] {
  const rows: Float64Array[] = [];
  while (rows.length < d) {
    const row = Float64Array.from({ length: d }, () => rng.normal());
    for (const prev of rows) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += row[i]! * prev[i]!;
      for (let i = 0; i < d; i++) row[i]! -= dot * prev[i]!;
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += row[i]! ** 2;
    if (norm < 1e-10) continue;
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < d; i++) row[i]! *= inv;
    rows.push(row);
  }
  return rows;
}
