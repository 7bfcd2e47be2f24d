// Native Sparse Attention (Yuan et al. 2025, "Native Sparse Attention: Hardware-Aligned and
// Natively Trainable Sparse Attention", sec. 3.2-3.3, eq. 5-12): o_t = Σ_c g_t^c Attn(q_t, K̃_t^c,
// Ṽ_t^c) over three branches with their own keys and values: compressed blocks (φ, eq. 7),
// the top-n blocks ranked by the compressed scores summed over each GQA group (eq. 8-12), and a
// sliding window; g_t^c = sigmoid of a linear map of x_t, per head and branch.
// Compression blocks of length l at stride d (d divides l and the selection block l'); eq. 9 maps
// their scores to selection blocks weighted by overlap / d (the identity when l = d = l'). The
// query's own block is always selected (as the paper's always-active local blocks).
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  Linear,
  Module,
  SOFTMAX_CAPABILITIES,
  State,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { ownAndSelectedBlocks, topEarlierBlocks } from '../ops/moba';
import { compressedAttention, windowAttention } from '../ops/nsa';
import { scaledDotProductAttention } from '../ops/sdpa';
import { repeatKvHeads } from '../ops/validate';
import { checkMixerInput, mergeHeads, splitHeads } from '../softmax/heads';
import { reportSelection } from './probe';

const positive = z.number().int().positive();

export const nsaSchema = z
  .strictObject({
    type: z.literal('nsa'),
    dModel: positive,
    numHeads: positive,
    numKvHeads: positive.optional(),
    /** Selection block size l'. */
    blockSize: positive,
    /** Compression block length l (default blockSize). */
    compressBlock: positive.optional(),
    /** Compression stride d (default compressBlock); divides compressBlock and blockSize. */
    compressStride: positive.optional(),
    /** Selected blocks per query, its own included (n). */
    numSelected: positive,
    /** Sliding-window length (w). */
    window: positive,
    /** 'gather' (default) gathers selected blocks and windows; 'dense' masks full attention. */
    form: z.enum(['gather', 'dense']).optional(),
  })
  .refine((c) => c.dModel % c.numHeads === 0, {
    path: ['numHeads'],
    message: 'a divisor of dModel',
  })
  .refine((c) => c.numHeads % (c.numKvHeads ?? c.numHeads) === 0, {
    path: ['numKvHeads'],
    message: 'a divisor of numHeads',
  })
  .refine(
    (c) => {
      const l = c.compressBlock ?? c.blockSize;
      const d = c.compressStride ?? l;
      return l % d === 0 && c.blockSize % d === 0;
    },
    { path: ['compressStride'], message: 'a divisor of compressBlock and blockSize' },
  );
export type NsaConfig = z.infer<typeof nsaSchema>;

/** φ of eq. 7: block [B, d] plus a learned intra-block position encoding, through a 2-layer MLP. */
class BlockCompressor extends Module<{ blockSize: number; headDim: number }> {
  readonly position: tf.Variable;
  readonly w1: Linear;
  readonly w2: Linear;

  constructor(config: { blockSize: number; headDim: number }, options: ModuleOptions) {
    super(config, options);
    const { blockSize: B, headDim: d } = config;
    const sub = { rng: this.rng };
    this.position = this.addParameter('position', tf.zeros([B, d]));
    this.w1 = this.addModule('w1', new Linear({ inFeatures: B * d, outFeatures: d }, sub));
    this.w2 = this.addModule('w2', new Linear({ inFeatures: d, outFeatures: d }, sub));
  }

  /** blocks [b, kvh, n, B, d] -> one vector per block [b, kvh, n, d]. */
  forward(keys: tf.Tensor): tf.Tensor4D {
    const [b, h, n, B, d] = keys.shape as number[] as [number, number, number, number, number];
    return tf.tidy(() => {
      const blocks = tf.add(tf.reshape(keys, [b * h * n, B, d]), this.position);
      const hidden = this.w1.forward(tf.reshape(blocks, [b * h * n, B * d]));
      const out = this.w2.forward(tf.mul(hidden, tf.sigmoid(hidden))); // SiLU
      return tf.reshape(out, [b, h, n, d]) as tf.Tensor4D;
    });
  }
}

/** Parameters of φ for one of keys or values. */
const compressorParameters = (B: number, d: number) => B * d + (B * d * d + d) + (d * d + d);

function nsaParameters(c: NsaConfig): number {
  const d = c.dModel / c.numHeads;
  const kvh = c.numKvHeads ?? c.numHeads;
  return (
    2 * c.dModel * c.dModel + // q, o
    6 * c.dModel * kvh * d + // k, v of three branches
    2 * compressorParameters(c.compressBlock ?? c.blockSize, d) +
    c.dModel * 3 * c.numHeads +
    3 * c.numHeads // gate and its bias
  );
}

/**
 * What each branch keeps for decoding: the selection branch's keys/values (all), the window's
 * last `window` ones, the compressed blocks and the raw compression keys of the open block.
 */
export class NsaState extends State {
  get(name: string): tf.Tensor4D | undefined {
    return this.tensor<tf.Tensor4D>(name);
  }
  set(name: string, value: tf.Tensor | null): void {
    this.setTensor(name, value);
  }
}

/** NSA over projected heads (GQA when numKvHeads < numHeads); causal only. */
export class Nsa extends Module<NsaConfig> implements TokenMixer {
  readonly q: Linear;
  readonly o: Linear;
  readonly gate: Linear;
  readonly branches: Record<'kCmp' | 'vCmp' | 'kSlc' | 'vSlc' | 'kWin' | 'vWin', Linear>;
  readonly compressKey: BlockCompressor;
  readonly compressValue: BlockCompressor;
  private readonly headDim: number;
  private readonly kvHeads: number;

  constructor(config: NsaConfig, options: ModuleOptions = {}) {
    super(parseConfig('nsa', nsaSchema, config), options);
    const { dModel: d, numHeads: h, blockSize } = this.config;
    this.headDim = d / h;
    this.kvHeads = this.config.numKvHeads ?? h;
    const sub = { rng: this.rng };
    const linear = (name: string, out: number, bias = false) =>
      this.addModule(name, new Linear({ inFeatures: d, outFeatures: out, bias }, sub));
    this.q = linear('q', d);
    const kv = this.kvHeads * this.headDim;
    this.branches = {
      kCmp: linear('kCmp', kv),
      vCmp: linear('vCmp', kv),
      kSlc: linear('kSlc', kv),
      vSlc: linear('vSlc', kv),
      kWin: linear('kWin', kv),
      vWin: linear('vWin', kv),
    };
    const phi = { blockSize: this.config.compressBlock ?? blockSize, headDim: this.headDim };
    this.compressKey = this.addModule('compressKey', new BlockCompressor(phi, sub));
    this.compressValue = this.addModule('compressValue', new BlockCompressor(phi, sub));
    this.gate = linear('gate', 3 * h, true);
    this.o = linear('o', d);
  }

  /** Causal only; no positions, masks, segment ids, weights map, head control or prefix. */
  get capabilities(): MixerCapabilities {
    return {
      ...SOFTMAX_CAPABILITIES,
      causal: 'only',
      positional: [],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  initState(): NsaState {
    return new NsaState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const { type: block, dModel, numHeads: h, blockSize: B, numSelected, window } = this.config;
    const l = this.config.compressBlock ?? B;
    const stride = this.config.compressStride ?? l;
    const state = checkMixerInput(block, x, dModel, context, NsaState, this.capabilities);
    const [b, t] = x.shape;
    const t0 = state ? state.length : 0;
    const tk = t0 + t;
    const dense = this.config.form === 'dense';
    const output = tf.tidy(() => {
      const q = splitHeads(this.q.forward(x), h, this.headDim);
      const heads = (name: keyof Nsa['branches']) => {
        const fresh = splitHeads(this.branches[name].forward(x), this.kvHeads, this.headDim);
        const old = state?.get(name);
        return old ? (tf.concat([old, fresh], 2) as tf.Tensor4D) : fresh;
      };
      // Compression (eq. 7): blocks i = [i·d, i·d + l) completed by these tokens join the
      // compressed keys; rawK/rawV hold the keys from the first block not yet compressed.
      const [rawK, rawV] = [heads('kCmp'), heads('vCmp')];
      const have = state?.get('cK')?.shape[2] ?? 0;
      const total = tk >= l ? Math.floor((tk - l) / stride) + 1 : 0;
      const compress = (raw: tf.Tensor4D, phi: BlockCompressor, name: string) => {
        const old = state?.get(name);
        if (total === have) return old ?? null;
        const fresh = phi.forward(strideBlocks(raw, total - have, l, stride));
        return old ? (tf.concat([old, fresh], 2) as tf.Tensor4D) : fresh;
      };
      const cK = compress(rawK, this.compressKey, 'cK');
      const cV = compress(rawV, this.compressValue, 'cV');
      const zeros = tf.zeros([b, h, t, this.headDim]) as tf.Tensor4D;
      const cmp = cK
        ? compressedAttention(q, cK, cV!, { blockSize: l, stride, queryOffset: t0 })
        : { output: zeros, scores: null };

      // Selection (eq. 8-12): compressed scores summed over each GQA group, top n - 1 earlier
      // blocks per query plus its own.
      const [kS, vS] = [heads('kSlc'), heads('vSlc')];
      let selected = tf.fill([b, h, t, 1], -1, 'int32') as tf.Tensor4D;
      const blocks = Math.floor(tk / B); // complete selection blocks
      if (numSelected > 1 && cmp.scores && blocks > 0) {
        const g = h / this.kvHeads;
        const n = cmp.scores.shape[3];
        const grouped = tf.sum(tf.reshape(cmp.scores, [b, this.kvHeads, g, t * n]), 2);
        // Eq. 9: compressed block i counts for selection block j by their overlap, in strides.
        const overlap = Array.from({ length: n * blocks }, (_, r) => {
          const [i, j] = [Math.floor(r / blocks), r % blocks];
          const lo = Math.max(i * stride, j * B);
          const hi = Math.min(i * stride + l, (j + 1) * B);
          return Math.max(0, hi - lo) / stride;
        });
        const importance = tf.matMul(
          tf.reshape(grouped, [b * this.kvHeads * t, n]),
          tf.tensor2d(overlap, [n, blocks]),
        );
        const top = topEarlierBlocks(
          tf.reshape(importance, [b, this.kvHeads, t, blocks]) as tf.Tensor4D,
          B,
          numSelected - 1,
          t0,
        );
        // Every head of a group reads the group's choice (rank-4 tile: int data, no gradient).
        selected = repeatKvHeads(top, h);
      }
      reportSelection(block, context, 'selectedBlocks', selected);
      const slc = ownAndSelectedBlocks(q, kS, vS, selected, {
        blockSize: B,
        form: dense ? 'dense' : 'gather',
      }).output;

      // Sliding window (sec. 3.3.3).
      const [kW, vW] = [heads('kWin'), heads('vWin')];
      const win = dense
        ? scaledDotProductAttention(q, kW, vW, { causal: true, window }).output
        : windowAttention(q, kW, vW, { window });

      // Gates (eq. 5): sigmoid per head and branch, [3, b, h, t, 1].
      const gates = tf
        .unstack(
          tf.transpose(tf.reshape(tf.sigmoid(this.gate.forward(x)), [b, t, 3, h]), [2, 0, 3, 1]),
        )
        .map((gc) => tf.expandDims(gc, -1));
      const mixed = tf.addN([
        tf.mul(gates[0]!, cmp.output),
        tf.mul(gates[1]!, slc),
        tf.mul(gates[2]!, win),
      ]) as tf.Tensor4D;

      if (state) {
        state.set('kSlc', kS);
        state.set('vSlc', vS);
        const keep = Math.min(window, tk);
        state.set('kWin', tf.slice(kW, [0, 0, kW.shape[2] - keep, 0], [-1, -1, keep, -1]));
        state.set('vWin', tf.slice(vW, [0, 0, vW.shape[2] - keep, 0], [-1, -1, keep, -1]));
        const open = (total - have) * stride;
        state.set(
          'kCmp',
          open < rawK.shape[2] ? tf.slice(rawK, [0, 0, open, 0], [-1, -1, -1, -1]) : null,
        );
        state.set(
          'vCmp',
          open < rawV.shape[2] ? tf.slice(rawV, [0, 0, open, 0], [-1, -1, -1, -1]) : null,
        );
        state.set('cK', cK);
        state.set('cV', cV);
        state.advance(t);
      }
      return this.o.forward(mergeHeads(mixed)) as tf.Tensor3D;
    });
    return output;
  }
}

/**
 * Blocks i = [i·stride, i·stride + length) of x [b, h, t, d] for i < n: [b, h, n, length, d]
 * (length a multiple of stride), as `length / stride` shifted runs of stride-long chunks.
 */
function strideBlocks(x: tf.Tensor4D, n: number, length: number, stride: number): tf.Tensor {
  const [b, h, , d] = x.shape;
  const r = length / stride;
  const chunks = tf.reshape(tf.slice(x, [0, 0, 0, 0], [-1, -1, (n + r - 1) * stride, -1]), [
    b,
    h,
    n + r - 1,
    stride * d,
  ]);
  const runs = Array.from({ length: r }, (_, s) => tf.slice(chunks, [0, 0, s, 0], [-1, -1, n, -1]));
  return tf.reshape(tf.stack(runs, 3), [b, h, n, length, d]);
}

register('nsa', (c: NsaConfig, o: ModuleOptions) => new Nsa(c, o), nsaSchema, {
  category: 'mixer',
  estimate: (c: NsaConfig) => estimateOf(nsaParameters(c)),
  info: {
    paper:
      'Yuan et al. 2025, Native Sparse Attention: Hardware-Aligned and Natively Trainable Sparse Attention',
    equation: 'sec. 3.2-3.3, eq. 5-12',
    summary:
      'Gated sum of compressed-block, top-n selected-block and sliding-window attention, each with its own keys and values.',
    example: { type: 'nsa', dModel: 8, numHeads: 2, blockSize: 2, numSelected: 2, window: 2 },
  },
});
