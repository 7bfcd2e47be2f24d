import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  ShapeError,
  State,
  checkInt,
  checkNumber,
  checkRank,
  checkShape,
  estimateOf,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { featureMaps, makeFeatureMap, type FeatureMap } from '../ops/feature-maps';
import { linearAttention, type LinearAttentionForm } from '../ops/linear';
import { repeatKvHeads } from '../ops/validate';
import { mixerInput } from '../softmax/heads';
import { ProjectedAttention, projectedParameters } from '../softmax/projected';
import { linearFields } from './config';

/** 'flowformer': Flow-Attention (Wu et al. 2022, ICML). */
export const flowformerSchema = z.strictObject({
  type: z.literal('flowformer'),
  ...linearFields,
  /** φ, non-negative: 'sigmoid' (the paper's, default), 'elu+1', 'relu' or a registered deterministic map. */
  featureMap: z.string().optional(),
  /** Added to every flow before it divides (default 1e-6). */
  eps: z.number().positive().optional(),
});
export type FlowformerConfig = z.input<typeof flowformerSchema>;

// The paper's φ; registered once, so other mixers can name it too.
if (!featureMaps.has('sigmoid')) {
  featureMaps.register(
    'sigmoid',
    (options) => {
      const d = options.headDim;
      if (options.numFeatures !== undefined) {
        throw new ConfigError(
          "featureMap 'sigmoid'",
          'numFeatures',
          'none (this map has no random features)',
          String(options.numFeatures),
        );
      }
      return {
        outDim: d,
        apply: (x) => {
          if (!(x instanceof tf.Tensor) || x.shape[x.rank - 1] !== d) {
            const got = x instanceof tf.Tensor ? `shape [${x.shape.join(',')}]` : typeof x;
            throw new ShapeError("featureMap 'sigmoid'", 'x', `a tensor with last axis ${d}`, got);
          }
          return tf.sigmoid(x);
        },
        buffers: () => ({}),
        dispose: () => {},
      };
    },
    {
      paper: 'Wu et al. 2022, Flowformer: Linearizing Transformers with Conservation Flows',
      equation: 'φ(x) = sigmoid(x), the non-negative map of the flow capacities',
      summary: 'Elementwise sigmoid: bounded, non-negative, dimension-preserving.',
      example: { featureMap: 'sigmoid' },
    },
  );
}

/** The running sums of causal Flow-Attention after the tokens seen, all [batch, heads, ...]. */
export interface FlowSums {
  /** Σ φ(q_j) [dk, 1]: each new key's outgoing flow O_i = φ(k_i)·Σ_{j≤i} φ(q_j). */
  queries: tf.Tensor4D;
  /** [Σ φ(k_j), Σ φ(k_j)·j/O_j] [dk, 2]: incoming flow I_i and conserved incoming flow Î_i. */
  keys: tf.Tensor4D;
  /** Σ φ(q_j)·j/I_j [dk, 1]: conserved outgoing flow Ô_i. */
  sinks: tf.Tensor4D;
  /** Σ exp(Ô_j) [1, 1]: the denominator of source competition. */
  competition: tf.Tensor4D;
  /** Σ φ(k_j)ᵀ c_j v_j [dk, dv]: the competed values, aggregated. */
  kv: tf.Tensor4D;
}

const SUMS = ['queries', 'keys', 'sinks', 'competition', 'kv'] as const;

/** Decoding state of `flowformer`: the five sums of `FlowSums` (constant size) and the count. */
export class FlowState extends State {
  get sums(): FlowSums | undefined {
    if (!this.tensor('kv')) return undefined;
    return Object.fromEntries(SUMS.map((n) => [n, this.tensor(n)!])) as unknown as FlowSums;
  }

  update(next: FlowSums, tokens: number): void {
    for (const n of SUMS) this.setTensor(n, next[n]);
    this.advance(tokens);
  }
}

export interface FlowAttentionOptions {
  causal: boolean;
  /** Form of the linear-attention op each flow runs in. */
  form: LinearAttentionForm;
  chunkSize?: number;
  eps: number;
  /** Sums after the tokens before these (causal only; the op checks their shapes). */
  initialState?: FlowSums;
  /** Tokens seen before these (the position normaliser's offset; causal only). */
  offset?: number;
}

/**
 * Flow-Attention on feature-mapped heads φ(q), φ(k) [b, h, t, dk] and v [b, h, t, dv]. With
 * n_i the number of tokens the flows of token i run over (i, 1-based, causal; T otherwise):
 *
 *   I_i = φ(q_i)·Σ_j φ(k_j),  O_i = φ(k_i)·Σ_j φ(q_j)                          (flows)
 *   Î_i = φ(q_i)·Σ_j φ(k_j) n_j/O_j / n_i,  Ô_i = min(1, φ(k_i)·Σ_j φ(q_j) n_j/I_j / n_i)
 *   c_i = n_i exp(Ô_i) / Σ_j exp(Ô_j)                                     (competition)
 *   out_i = sigmoid(Î_i) · φ(q_i) Σ_j φ(k_j)ᵀ c_j v_j / I_i                 (allocation)
 *
 * sums over j ≤ i (causal) or all j. Bidirectional, n = T gives the paper's conservation and
 * T·softmax(Ô); causal, the paper's cumulative flows normalised by position. Each Σ is one
 * linearAttention call, so the form and a carried state apply to all of them alike.
 */
export function flowAttention(
  fq: tf.Tensor4D,
  fk: tf.Tensor4D,
  v: tf.Tensor4D,
  options: FlowAttentionOptions,
): { output: tf.Tensor4D; state: FlowSums } {
  const { causal, form, chunkSize, initialState: init } = options;
  const block = 'flowAttention';
  checkRank(block, 'fq', fq, 4);
  const [b, h, t, dk] = fq.shape;
  checkShape(block, 'fk', fk, [b, h, t, dk]);
  checkShape(block, 'v', v, [b, h, t, null]);
  const eps = checkNumber(block, 'eps', options.eps, { min: 0, minExclusive: true });
  const offset = checkInt(block, 'offset', options.offset ?? 0, 0);
  if (!causal && init) {
    throw new ConfigError(block, 'initialState', 'none with causal: false', 'a state');
  }
  if (!causal && offset) {
    throw new ConfigError(block, 'offset', '0 with causal: false', String(offset));
  }
  return tf.tidy(() => {
    const flow = (q: tf.Tensor4D, k: tf.Tensor4D, values: tf.Tensor, kv?: tf.Tensor4D) =>
      linearAttention(q, k, values as tf.Tensor4D, {
        causal,
        form,
        chunkSize,
        initialState: kv ? { kv } : undefined,
      });
    const n = causal
      ? tf.reshape(tf.range(offset + 1, offset + t + 1), [1, 1, t, 1])
      : tf.scalar(t);
    const ones = tf.ones([b, h, t, 1]) as tf.Tensor4D;
    const outgoing = flow(fk, fq, ones, init?.queries);
    const o = outgoing.output;
    const incoming = flow(fq, fk, tf.concat([ones, tf.div(n, tf.add(o, eps))], 3), init?.keys);
    const [i, conservedIn] = tf.split(incoming.output, 2, 3);
    const sinkWeights = tf.div(n, tf.add(i!, eps));
    const sources = flow(fk, fq, sinkWeights, init?.sinks);
    // Clamped at 1 as the authors' code does; flows are >= 0, so only the top binds.
    const conservedOut = tf.minimum(tf.div(sources.output, n), 1);
    const scores = tf.exp(conservedOut);
    const total = flow(ones, ones, scores, init?.competition);
    const competition = tf.mul(n, tf.div(scores, total.output));
    const aggregated = flow(fq, fk, tf.mul(v, competition), init?.kv);
    const allocation = tf.sigmoid(tf.div(conservedIn!, n));
    const output = tf.mul(allocation, tf.div(aggregated.output, tf.add(i!, eps)));
    return {
      output: output as tf.Tensor4D,
      state: {
        queries: outgoing.state.kv,
        keys: incoming.state.kv,
        sinks: sources.state.kv,
        competition: total.state.kv,
        kv: aggregated.state.kv,
      },
    };
  });
}

/**
 * Flowformer, "Linearizing Transformers with Conservation Flows" (Wu et al. 2022, ICML):
 * attention as a flow network from sources (values) to sinks (results). Incoming and outgoing
 * flows I, O of the non-negative map φ (sigmoid); conserving them gives Î, Ô; values compete by
 * a softmax of Ô scaled by the length (source competition) and results are gated by sigmoid(Î)
 * (sink allocation); see `flowAttention`. Bidirectional (causal: false) is the paper's normal
 * Flow-Attention, whose competition softmax runs over every position; causal is its causal
 * version (cumulative flows, normalised by position), which decodes with the constant-size
 * `FlowState`. Trains in the op's chunked or parallel form; one decoded token is its recurrent form.
 * (Formulas as the paper names them, checked line by line against the authors' released
 * Flow_Attention.py, normal and causal; the paper's equation numbers were not accessible to us,
 * so none are cited. The clamp of Ô at 1 is from that code.)
 */
export class Flowformer extends ProjectedAttention<FlowformerConfig> implements TokenMixer {
  private readonly phi: FeatureMap;

  constructor(config: FlowformerConfig, options: ModuleOptions = {}) {
    const parsed = parseConfig('flowformer', flowformerSchema, config);
    featureMaps.get(parsed.featureMap ?? 'sigmoid', '$.featureMap'); // refuse before allocating
    super(parsed, options);
    this.phi = makeFeatureMap(this.config.featureMap ?? 'sigmoid', { headDim: this.headDim });
  }

  /** Constant state when causal; no masks, positions, weights map or prefix; head control. */
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

  initState(_batch: number): FlowState {
    return new FlowState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = 'flowformer';
    const { dModel } = this.config;
    const input = mixerInput(
      block,
      x,
      dModel,
      context,
      FlowState,
      this.training,
      this.capabilities,
    );
    const { state, time, queryPositions } = input;
    const causal = this.isCausal(context);
    if (state && !causal) {
      throw new ConfigError(
        block,
        'context.state',
        'no state with causal: false (the bidirectional flows span the whole input)',
        'a state',
      );
    }
    const [output, ...held] = tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(x, queryPositions, undefined);
      const heads = q.shape[1];
      const [k, v] = [repeatKvHeads(keys, heads), repeatKvHeads(values, heads)];
      const map = (t: tf.Tensor4D, role: 'query' | 'key') => this.phi.apply(t, role) as tf.Tensor4D;
      const r = flowAttention(map(q, 'query'), map(k, 'key'), v, {
        causal,
        form: state && time === 1 ? 'recurrent' : (this.config.form ?? 'chunk'),
        chunkSize: this.config.chunkSize,
        eps: this.config.eps ?? 1e-6,
        initialState: state?.sums,
        offset: state?.length ?? 0,
      });
      return [this.mergeAndProject(r.output, context.heads), ...SUMS.map((n) => r.state[n])];
    });
    if (state) {
      const sums = Object.fromEntries(SUMS.map((n, i) => [n, held[i]]));
      state.update(sums as unknown as FlowSums, time);
    } else tf.dispose(held);
    return output as tf.Tensor3D;
  }

  override dispose(): void {
    this.phi.dispose();
    super.dispose();
  }
}

register('flowformer', (c, o) => new Flowformer(c as FlowformerConfig, o), flowformerSchema, {
  category: 'mixer',
  estimate: (c: FlowformerConfig) => estimateOf(projectedParameters(c)),
  info: {
    paper: 'Wu et al. 2022, Flowformer: Linearizing Transformers with Conservation Flows (ICML)',
    equation:
      'flows I = φ(Q)Σφ(K)ᵀ, O = φ(K)Σφ(Q)ᵀ; conservation Î, Ô; competition softmax(Ô)·m, aggregation φ(Q)/I·φ(K)ᵀV̂, allocation sigmoid(Î); causal version with cumulative flows normalised by position',
    summary:
      'flow-conservation linear attention: values compete for outgoing flow, results are gated by incoming flow; constant-state decoding',
    example: { type: 'flowformer', dModel: 8, numHeads: 2 },
  },
});
