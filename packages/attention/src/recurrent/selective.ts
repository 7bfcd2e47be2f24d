import * as tf from '@tensorflow/tfjs-core';
import { Linear, Module, type ModuleOptions } from '@attnkit/core';
import { linearRecurrence } from '../ops/scan';
import { causalConv1d } from '../ops/short-conv';
import { deltaBias, silu, uniform } from './common';

/** The fields the selective SSM reads (Mamba's, without its output projection's). */
export interface SelectiveConfig {
  dModel: number;
  expand?: number;
  dConv?: number;
  dtMin?: number;
  dtMax?: number;
  bias?: boolean;
  convBias?: boolean;
  chunkSize?: number;
  dState?: number;
  dtRank?: number;
  form?: 'chunk' | 'sequential';
}

/** Its decoding state: the conv's last dConv-1 inputs [b, dConv-1, E] and h [b, E, N]. */
export interface SelectiveCarry {
  conv?: tf.Tensor3D;
  ssm?: tf.Tensor;
}

/** Inner width E·d, state size N, conv kernel, Δ's rank. */
export function selectiveSizes(c: SelectiveConfig): {
  inner: number;
  state: number;
  kernel: number;
  rank: number;
} {
  const { dModel, expand = 2, dState = 16, dConv = 4, dtRank } = c;
  return {
    inner: expand * dModel,
    state: dState,
    kernel: dConv,
    rank: dtRank ?? Math.ceil(dModel / 16),
  };
}

/** Parameters of `SelectiveSsm` for `c`, without allocating (the registry's estimate). */
export function selectiveParameters(c: SelectiveConfig): number {
  const { inner, state: n, kernel, rank } = selectiveSizes(c);
  const bias = c.bias ?? false;
  const convBias = c.convBias ?? true;
  return (
    c.dModel * 2 * inner +
    (bias ? 2 * inner : 0) + // inProj
    inner * kernel +
    (convBias ? inner : 0) + // conv
    inner * (rank + 2 * n) + // xProj
    rank * inner +
    inner + // dtProj
    inner * n +
    inner // aLog, D
  );
}

/**
 * The selective SSM of a Mamba block up to its gate (Gu & Dao 2023, Alg. 2 and sec. 3.4 /
 * Fig. 3): [x, z] = in(u); x = SiLU(conv(x)); Δ = softplus(W_Δ(W_r x) + b_Δ), B = W_B x,
 * C = W_C x, A = -exp(A_log) (S4D-real, A_n = n + 1), zero-order hold Ā = exp(ΔA) and
 * B̄x ≈ ΔBx (as the reference code), h_t = Ā_t ⊙ h_{t-1} + B̄_t x_t (linearRecurrence),
 * y = (C h + D x) ⊙ SiLU(z), width E. Mamba projects y out; Hymba normalises it beside its
 * attention heads first. Parameters are created in Mamba's order, under Mamba's names.
 */
export class SelectiveSsm<C extends SelectiveConfig = SelectiveConfig> extends Module<C> {
  readonly inProj: Linear;
  readonly convWeight: tf.Variable;
  readonly convBias: tf.Variable | null;
  readonly xProj: Linear;
  readonly dtProj: Linear;
  readonly aLog: tf.Variable;
  readonly d: tf.Variable;

  /** `config` is parsed by the caller. */
  constructor(config: C, options: ModuleOptions = {}) {
    super(config, options);
    const { dModel, bias = false, convBias = true } = this.config;
    const { inner, state: n, kernel, rank } = this.sizes;
    const linear = (i: number, o: number, b: boolean, init?: object) =>
      new Linear({ inFeatures: i, outFeatures: o, bias: b, ...init }, { rng: this.rng });
    this.inProj = this.addModule('inProj', linear(dModel, 2 * inner, bias));
    const bound = 1 / Math.sqrt(kernel); // PyTorch's Conv1d default (fan-in = kernel, depthwise)
    this.convWeight = this.addParameter('convWeight', uniform(this.rng, [inner, kernel], bound));
    this.convBias = convBias
      ? this.addParameter('convBias', uniform(this.rng, [inner], bound))
      : null;
    this.xProj = this.addModule('xProj', linear(inner, rank + 2 * n, false));
    const dtStd = 1 / Math.sqrt(rank);
    const dtInit = { init: { name: 'uniform', min: -dtStd, max: dtStd } };
    this.dtProj = this.addModule('dtProj', linear(rank, inner, true, dtInit));
    const { dtMin = 0.001, dtMax = 0.1 } = this.config;
    const b = deltaBias(inner, dtMin, dtMax, this.rng);
    this.dtProj.bias!.assign(b);
    b.dispose();
    // S4D-real: A_n = -(n + 1) for every channel.
    const aInit = tf.tidy(() =>
      tf.log(tf.tile(tf.reshape(tf.range(1, n + 1, 1, 'float32'), [1, n]), [inner, 1])),
    );
    this.aLog = this.addParameter('aLog', aInit);
    this.d = this.addParameter('d', tf.ones([inner]));
  }

  get sizes(): ReturnType<typeof selectiveSizes> {
    return selectiveSizes(this.config);
  }

  /**
   * x [b, t, dModel] -> the gated y [b, t, E] and the state after it, from `carry` (zeros when
   * absent). Tensors are the caller's (call it inside tf.tidy and keep what it needs).
   */
  scan(
    x: tf.Tensor3D,
    carry: SelectiveCarry = {},
  ): { y: tf.Tensor3D; conv: tf.Tensor3D; ssm: tf.Tensor } {
    const { state: n, rank } = this.sizes;
    const t = x.shape[1];
    const [xIn, z] = tf.split(this.inProj.forward(x), 2, 2) as [tf.Tensor3D, tf.Tensor3D];
    const c = causalConv1d(xIn, this.convWeight as tf.Tensor2D, {
      bias: (this.convBias ?? undefined) as tf.Tensor1D | undefined,
      initialState: carry.conv,
      activation: 'silu',
    });
    const u = c.output;
    const [low, bMat, cMat] = tf.split(this.xProj.forward(u), [rank, n, n], 2);
    const delta = tf.softplus(this.dtProj.forward(low!)); // [b, t, E]
    const a = tf.neg(tf.exp(this.aLog)); // [E, N]
    const dt = tf.expandDims(delta, 3); // [b, t, E, 1]
    const decay = tf.exp(tf.mul(dt, a)); // Ā [b, t, E, N]
    const drive = tf.mul(tf.mul(dt, tf.expandDims(bMat!, 2)), tf.expandDims(u, 3)); // ΔBx
    const scan = linearRecurrence(decay, drive, {
      form: t === 1 || this.config.form === 'sequential' ? 'sequential' : 'chunk',
      chunkSize: this.config.chunkSize ?? 16,
      initialState: carry.ssm,
    });
    const y = tf.add(tf.sum(tf.mul(scan.output, tf.expandDims(cMat!, 2)), 3), tf.mul(u, this.d));
    return { y: tf.mul(y, silu(z)) as tf.Tensor3D, conv: c.state, ssm: scan.state };
  }
}
