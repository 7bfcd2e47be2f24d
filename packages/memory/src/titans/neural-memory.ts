import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  Linear,
  Module,
  activations,
  estimateOf,
  initTensor,
  parseConfig,
  register,
  type MixerCapabilities,
  type MixerContext,
  type ModuleOptions,
  type TokenMixer,
} from '@attnkit/core';
import { RECURRENT_CAPABILITIES, checkMixerInput } from '@attnkit/attention';
import { memoryModel, memoryModelSize, type MemoryModel } from './memory-model';
import { MIRAS_PRESETS, checkMiras, type MirasChoice } from './miras';
import { neuralMemory, type NeuralMemoryCarry } from './neural-memory-op';
import { NeuralMemoryState } from './state';

const positive = z.number().int().positive();

/** Options of the neural memory, shared by 'neural-memory' and the Titans architectures. */
export const memoryFields = {
  dModel: positive,
  numHeads: positive,
  /** Width of a memory head (keys, queries, values); default dModel / numHeads. */
  headDim: positive.optional(),
  /** The memory model M (sec. 3.1): 'linear', 'mlp' (default) or 'swiglu'. */
  memoryModel: z.enum(['linear', 'mlp', 'swiglu']).optional(),
  /** Matrices of the 'mlp' memory, >= 2 (default 2). */
  memoryDepth: positive.optional(),
  /** Hidden width of the 'mlp' / 'swiglu' memory (default 2·headDim). */
  memoryHidden: positive.optional(),
  /** Tokens whose inner gradients share the chunk start's weights (sec. 3.2; default 16). */
  chunkSize: positive.optional(),
  /** Training form: 'chunk' (default) or 'recurrent'; decoding one token steps recurrently. */
  form: z.enum(['chunk', 'recurrent']).optional(),
  /** Largest inner learning rate: θ_t = learningRate·σ(x w_θ) (default min(0.1, 1/chunkSize): a chunk's summed step stays <= 1; 0: a fixed memory). */
  learningRate: z.number().min(0).optional(),
  /** Largest norm of a token's inner gradient ∇ℓ (clipped to it; default 3·√headDim; Infinity: unclipped). */
  gradientClip: z.number().positive().optional(),
  /** Surprise with momentum η_t = σ(x w_η) (eq. 14; default true); false: η = 0. */
  momentum: z.boolean().optional(),
  /** Forget gate α_t = σ(x w_α) (eq. 13; default true); false: α = 0. */
  forgetGate: z.boolean().optional(),
  /** A Miras model (attentional bias + retention), default 'titans'; the fields below override it. */
  miras: z.enum(['titans', 'moneta', 'yaad', 'memora']).optional(),
  attentionalBias: z.enum(['l2', 'lp', 'huber']).optional(),
  retention: z.enum(['l2', 'lq', 'kl']).optional(),
  /** p of the ℓ_p bias, q of the ℓ_q retention (>= 2), δ of the Huber bias (> 0). */
  p: z.number().min(2).optional(),
  q: z.number().min(2).optional(),
  huberDelta: z.number().positive().optional(),
};

export const neuralMemorySchema = z.strictObject({
  type: z.literal('neural-memory'),
  ...memoryFields,
});
export type NeuralMemoryConfig = z.input<typeof neuralMemorySchema>;

/** The memory options of a config (any type carrying memoryFields). */
export type MemoryOptions = { type: string } & z.input<z.ZodObject<typeof memoryFields>>;

/** Sizes and choices a memory config resolves to. */
export function memorySetup(c: MemoryOptions): {
  heads: number;
  headDim: number;
  model: MemoryModel;
  miras: MirasChoice;
} {
  const headDim = c.headDim ?? Math.floor(c.dModel / c.numHeads);
  const kind = c.memoryModel ?? 'mlp';
  const model = memoryModel(
    kind,
    headDim,
    c.memoryHidden ?? 2 * headDim,
    c.memoryDepth ?? 2,
    c.type,
  );
  const preset = MIRAS_PRESETS[c.miras ?? 'titans'];
  const miras = checkMiras(c.type, {
    attentionalBias: c.attentionalBias ?? preset.attentionalBias,
    retention: c.retention ?? preset.retention,
    p: c.p ?? preset.p,
    q: c.q ?? preset.q,
    huberDelta: c.huberDelta ?? preset.huberDelta,
  });
  return { heads: c.numHeads, headDim, model, miras };
}

/** Parameters of the memory: q/k/v/o, the gate projections and the memory's initial weights. */
export function memoryParameters(c: MemoryOptions): number {
  const { heads, headDim, model } = memorySetup(c);
  const width = heads * headDim;
  const gates = 1 + (c.momentum === false ? 0 : 1) + (c.forgetGate === false ? 0 : 1);
  return 4 * c.dModel * width + gates * (c.dModel * heads + heads) + heads * memoryModelSize(model);
}

/** SiLU then L2-normalised per head (Titans sec. 4.4). */
function normalized(x: tf.Tensor): tf.Tensor {
  const s = tf.mul(x, tf.sigmoid(x));
  return tf.mul(s, tf.rsqrt(tf.add(tf.sum(tf.square(s), -1, true), 1e-6)));
}

/**
 * Titans' neural long-term memory as a layer (Behrouz et al. 2024, sec. 3.1-3.2; the memory part
 * of MAL, sec. 4.3): q, k = ℓ2-normalised SiLU(x W_q), SiLU(x W_k), v = SiLU(x W_v) per head (eq.
 * 11, sec. 4.4); θ_t, η_t, α_t from x (data-dependent, eqs. 13-14); the memory learns k_t → v_t at
 * test time (`neuralMemory`) and y_t = M_t(q_t) (eq. 15) goes through W_o. Its learned initial
 * weights M_0 are parameters of the outer model, which trains through the inner updates. Causal
 * only; decoding carries the memory's weights: constant state.
 */
export class NeuralMemory<C extends MemoryOptions = NeuralMemoryConfig>
  extends Module<C>
  implements TokenMixer
{
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly theta: Linear;
  readonly eta: Linear | null;
  readonly alpha: Linear | null;
  readonly init: tf.Variable[];

  constructor(config: C, options: ModuleOptions = {}, parsed = false) {
    super(
      parsed ? config : (parseConfig('neural-memory', neuralMemorySchema, config) as C),
      options,
    );
    const { heads, headDim, model } = this.setup;
    const d = this.config.dModel;
    const width = heads * headDim;
    const linear = (i: number, o: number, bias = false) =>
      new Linear({ inFeatures: i, outFeatures: o, bias }, { rng: this.rng });
    this.q = this.addModule('q', linear(d, width));
    this.k = this.addModule('k', linear(d, width));
    this.v = this.addModule('v', linear(d, width));
    this.o = this.addModule('o', linear(width, d));
    // Gate biases: η ≈ 0.5 (momentum that does not multiply the chunk's step many times over) and
    // α ≈ 1e-3 (forgetting over ~1000 tokens: decaying every matrix of a deep or gated memory
    // shrinks its output as a power of the decay, so faster forgetting collapses it to 0).
    const gate = (name: string, bias: number) => {
      const g = this.addModule(name, linear(d, heads, true));
      const start = tf.fill([heads], bias);
      g.bias!.assign(start);
      start.dispose();
      return g;
    };
    this.theta = gate('theta', 0);
    this.eta = this.config.momentum === false ? null : gate('eta', 0);
    this.alpha = this.config.forgetGate === false ? null : gate('alpha', -7);
    this.init = model.shapes.map(([i, o], l) =>
      this.addParameter(
        `memory${l}`,
        initTensor({ name: 'normal', std: 1 / Math.sqrt(i) }, [heads, i, o], this.rng),
      ),
    );
  }

  /**
   * The largest θ_t: `learningRate`, by default min(0.1, 1/chunkSize), so a chunk's summed step
   * Σθ_t stays <= 1 (with unit keys the linear memory's ℓ2 update I − 2Σθ k kᵀ is then
   * non-expansive); 0.1 caps the per-token step of short chunks (the MLP's curvature is larger).
   */
  get maxStep(): number {
    return this.config.learningRate ?? Math.min(0.1, 1 / (this.config.chunkSize ?? 16));
  }

  get setup() {
    return memorySetup(this.config);
  }

  get capabilities(): MixerCapabilities {
    return RECURRENT_CAPABILITIES;
  }

  initState(_batch: number): NeuralMemoryState {
    return new NeuralMemoryState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const caps = this.capabilities;
    const state = checkMixerInput(block, x, this.config.dModel, context, NeuralMemoryState, caps);
    return this.run(x, state, 'updated');
  }

  /**
   * The memory over x [b, t, dModel] from `state` (fresh weights when absent), retrieving with the
   * updated weights or those of the chunk start (MAC); advances the state. Output [b, t, dModel].
   */
  run(
    x: tf.Tensor3D,
    state: NeuralMemoryState | undefined,
    retrieve: 'updated' | 'chunkStart',
  ): tf.Tensor3D {
    const { heads: h, headDim: dh, model, miras } = this.setup;
    const [b, t] = x.shape;
    const { output, carry, fresh } = tf.tidy(() => {
      const split = (y: tf.Tensor) =>
        tf.transpose(tf.reshape(y, [b, t, h, dh]), [0, 2, 1, 3]) as tf.Tensor4D;
      const gates = (g: Linear) => tf.transpose(g.forward(x), [0, 2, 1]) as tf.Tensor3D;
      const lr = tf.mul(tf.sigmoid(gates(this.theta)), this.maxStep);
      const logSigmoid = (z: tf.Tensor) => tf.neg(tf.softplus(tf.neg(z)));
      const fresh = state?.carry ? undefined : this.initialCarry(b);
      const r = neuralMemory(
        {
          q: normalized(split(this.q.forward(x))) as tf.Tensor4D,
          k: normalized(split(this.k.forward(x))) as tf.Tensor4D,
          v: split(activations.get('silu')(this.v.forward(x))),
          lr: lr as tf.Tensor3D,
          logMomentum: this.eta ? (logSigmoid(gates(this.eta)) as tf.Tensor3D) : undefined,
          logRetain: this.alpha
            ? (logSigmoid(tf.neg(gates(this.alpha))) as tf.Tensor3D)
            : undefined,
        },
        state?.carry ?? fresh!,
        {
          model,
          miras,
          retrieve,
          form: state && t === 1 ? 'recurrent' : (this.config.form ?? 'chunk'),
          chunkSize: this.config.chunkSize ?? 16,
          offset: state?.length ?? 0,
          gradientClip: this.config.gradientClip,
        },
      );
      const merged = tf.reshape(tf.transpose(r.output, [0, 2, 1, 3]), [b, t, h * dh]);
      return { output: this.o.forward(merged) as tf.Tensor3D, carry: r.state, fresh };
    });
    if (state) {
      state.update(carry, t);
      const kept = new Set(Object.values(state.tensors()));
      if (fresh) tf.dispose(allTensors(fresh).filter((x) => !kept.has(x)));
    } else tf.dispose([...new Set([...allTensors(carry), ...(fresh ? allTensors(fresh) : [])])]);
    return output;
  }

  /** M_0 tiled to the batch, zero surprise: the memory before any token. */
  private initialCarry(batch: number): NeuralMemoryCarry {
    const weights = this.init.map((w) => tf.tile(tf.expandDims(w, 0), [batch, 1, 1, 1]));
    return { weights, momentum: weights.map((w) => tf.zerosLike(w)), base: weights };
  }
}

function allTensors(c: NeuralMemoryCarry): tf.Tensor[] {
  return [...c.weights, ...c.momentum, ...c.base];
}

register(
  'neural-memory',
  (c, o) => new NeuralMemory(c as NeuralMemoryConfig, o),
  neuralMemorySchema,
  {
    category: 'mixer',
    estimate: (c: NeuralMemoryConfig) => estimateOf(memoryParameters(c)),
    info: {
      paper:
        'Behrouz et al. 2024, Titans: Learning to Memorize at Test Time (Miras: Behrouz et al. 2025, It’s All Connected)',
      equation:
        'eqs. 12-15: ℓ = ‖M(k_t) − v_t‖², S_t = η_t S_{t−1} − θ_t ∇ℓ, M_t = (1 − α_t) M_{t−1} + S_t, y_t = M_t(q_t); chunked form sec. 3.2',
      summary:
        'a small MLP memory whose weights are learned at test time by gradient descent with momentum and forgetting (each token’s gradient clipped in norm); Miras biases and retentions by config; constant state',
      example: { type: 'neural-memory', dModel: 8, numHeads: 2, chunkSize: 2 },
    },
  },
);
