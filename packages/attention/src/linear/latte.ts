import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  State,
  estimateOf,
  parseConfig,
  register,
  type Estimate,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { logSumExpScan, type LogSumExpState } from '../ops/scan';
import { latentMixtureChunks } from '../ops/scan/latent-mixture';
import { mixerInput } from '../softmax/heads';
import { ProjectedAttention, headLayout } from '../softmax/projected';
import { linearFields } from './config';

const DEFAULT_LATENTS = 64;
const DEFAULT_CHUNK = 32;

/** 'latte': latent attention, linear in time (Dolga et al. 2024). */
export const latteSchema = z.strictObject({
  type: z.literal('latte'),
  dModel: linearFields.dModel,
  numHeads: linearFields.numHeads,
  bias: linearFields.bias,
  causal: linearFields.causal,
  /** Causal training form: 'chunk' (default: gated linear attention in chunks, the state carried) or 'parallel' (one scan over all). */
  form: linearFields.form,
  chunkSize: linearFields.chunkSize,
  /** L, latent states per head (default 64; an attnkit default, not the paper's). */
  numLatents: z.number().int().positive().optional(),
});
export type LatteConfig = z.input<typeof latteSchema>;

/** Decoding state: per head and latent the running max m, Σ e^{k-m} v and Σ e^{k-m} (constant size). */
export class LatteState extends State {
  get stats(): LogSumExpState | undefined {
    const max = this.tensor('max');
    if (!max) return undefined;
    return { max, numerator: this.tensor('numerator')!, denominator: this.tensor('denominator')! };
  }

  update(next: LogSumExpState, tokens: number): void {
    this.setTensor('max', next.max);
    this.setTensor('numerator', next.numerator);
    this.setTensor('denominator', next.denominator);
    this.advance(tokens);
  }
}

/**
 * Latte, "Latent Attention for Linear Time Transformers" (Dolga et al. 2024): attention through
 * L latent states per head. A query picks latents, p(l|x_t) = softmax_l(q_t); each latent
 * attends over the keys, p(s|l) = softmax_s(k_{s,l}); out_t = Σ_l p(l|x_t) Σ_s p(s|l) v_s
 * (bidirectional: softmax_L(Q) (softmax_T(K)ᵀ V)). Causal: p(s|l,t) normalises
 * over s ≤ t only, so per latent the running softmax average of the values is a log-sum-exp scan
 * (running max, Σ e^{k-m} v, Σ e^{k-m}; `logSumExpScan`), stable for any logit range, and its
 * state is the constant-size decoding state (the paper's recurrent form). q and k are
 * [b, h, t, L] (x W_q, x W_k); v is [b, h, t, dModel/h]; o projects back. Not included: the
 * paper's VAPOR positions and the local-attention hybrid (Latte-Macchiato); takes no positions.
 * (Read from the abstract and public summaries of the paper; its section and equation numbers
 * were not accessible to us, so none are cited.) Cost: 'chunk' (the default) is gated linear
 * attention over L key dimensions, each latent's keys shifted by their running max, on the
 * backend's gated recurrence kernel where it has one, else products over [chunk, chunk, L]
 * (`latentMixtureChunks`); 'parallel' scans [t, L, dv] over log t steps (`logSumExpScan`, as
 * decoding does one step at a time); both exact for any logit range. The bidirectional form is
 * two matmuls.
 */
export class Latte extends ProjectedAttention<LatteConfig> implements TokenMixer {
  constructor(config: LatteConfig, options: ModuleOptions = {}) {
    const parsed = parseConfig('latte', latteSchema, config);
    const heads = headLayout(parsed);
    const latents = parsed.numLatents ?? DEFAULT_LATENTS;
    super(parsed, options, { ...heads, headDim: latents, valueDim: heads.headDim });
  }

  /** Causal or not (config, then context); decodes when causal; no masks, positions or weights map. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      decoding: this.config.causal !== false,
      positional: [],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: 'constant',
      keyValuePrefix: false,
    };
  }

  initState(_batch: number): LatteState {
    return new LatteState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const caps = this.capabilities;
    const input = mixerInput('latte', x, this.config.dModel, context, LatteState, false, caps);
    const { state, queryPositions, time } = input;
    const causal = this.isCausal(context);
    if (state && !causal) {
      throw new ConfigError('latte', 'context.causal', 'true or unset with a state', 'false');
    }
    const [output, ...next] = tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(x, queryPositions, undefined);
      const pLatent = tf.softmax(q) as tf.Tensor4D; // p(l|x_t) [b, h, t, L]
      if (!causal) {
        // p(s|l) over every s: per latent a softmax over time, then Σ_s p(s|l) v_s [b, h, L, dv].
        const pKey = tf.softmax(tf.transpose(keys, [0, 1, 3, 2]));
        const mixed = tf.matMul(pLatent, tf.matMul(pKey, values)) as tf.Tensor4D;
        return [this.mergeAndProject(mixed, context.heads)];
      }
      const form = state && time === 1 ? 'recurrent' : (this.config.form ?? 'chunk');
      const { output: mixed, state: next } =
        form === 'chunk'
          ? latentMixtureChunks(
              pLatent,
              keys,
              values,
              this.config.chunkSize ?? DEFAULT_CHUNK,
              state?.stats,
            )
          : this.causalScan(pLatent, keys, values, state?.stats, form);
      const { max, numerator, denominator } = next;
      return [this.mergeAndProject(mixed, context.heads), max, numerator, denominator];
    });
    if (state) {
      const [max, numerator, denominator] = next as tf.Tensor[];
      state.update({ max: max!, numerator: numerator!, denominator: denominator! }, time);
    } else tf.dispose(next);
    return output as tf.Tensor3D;
  }

  /**
   * The reference forms: per latent, the softmax average of v over s ≤ t by `logSumExpScan`
   * ([b, t, h, L, dv], exact for any logit range), mixed by p(l|x_t); and the state after it.
   */
  private causalScan(
    pLatent: tf.Tensor4D,
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    initial: LogSumExpState | undefined,
    form: 'parallel' | 'recurrent',
  ): { output: tf.Tensor4D; state: LogSumExpState } {
    const latents = keys.shape[3];
    const scores = tf.transpose(keys, [0, 2, 1, 3]); // [b, t, h, L]
    const vals = tf.transpose(values, [0, 2, 1, 3]); // [b, t, h, dv]
    // The same v under every latent; an add broadcasts it (its gradient sums at any rank).
    const spread = tf.add(tf.expandDims(vals, 3), tf.zeros([latents, 1]));
    const scan = logSumExpScan(scores, spread, { form, initialState: initial });
    return { output: mixLatents(pLatent, scan.output), state: scan.state };
  }
}

/** out_t = Σ_l p(l|x_t) o_{t,l}: p [b, h, t, L], o [b, t, h, L, dv] -> [b, h, t, dv]. */
function mixLatents(p: tf.Tensor4D, o: tf.Tensor): tf.Tensor4D {
  const [b, h, t, latents] = p.shape;
  const dv = o.shape[4]!;
  const weights = tf.reshape(tf.transpose(p, [0, 2, 1, 3]), [b * t * h, 1, latents]);
  const mixed = tf.matMul(weights, tf.reshape(o, [b * t * h, latents, dv]));
  return tf.transpose(tf.reshape(mixed, [b, t, h, dv]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/** q and k project to numHeads·L, v to dModel, o back: what the constructor allocates. */
function estimateLatte(c: LatteConfig): Estimate {
  const { headDim } = headLayout(c);
  const latents = c.numLatents ?? DEFAULT_LATENTS;
  const linear = (i: number, o: number) => i * o + (c.bias ? o : 0);
  const width = c.numHeads * headDim;
  const d = c.dModel;
  return estimateOf(2 * linear(d, c.numHeads * latents) + linear(d, width) + linear(width, d));
}

register('latte', (c, o) => new Latte(c, o), latteSchema, {
  category: 'mixer',
  estimate: estimateLatte,
  info: {
    paper: 'Dolga et al. 2024, Latte: Latent Attention for Linear Time Transformers',
    equation:
      'p(s|t) = Σ_l p(s|l) p(l|t): out_t = Σ_l p(l|x_t) Σ_s p(s|l) v_s, p(l|x_t) = softmax_l(q_t), p(s|l) = softmax_s(k_s,l); causal: p(s|l,t) over s ≤ t (a log-sum-exp scan)',
    summary:
      'attention through L learned latent states per head: linear time, causal or bidirectional, constant-size decoding state',
    example: { type: 'latte', dModel: 8, numHeads: 2, numLatents: 3 },
  },
});
