import * as tf from '@tensorflow/tfjs-core';
import type { MixerCapabilities, MixerContext, TokenMixer } from '@attnkit/core';
import { linearAttention, type LinearAttentionOptions } from '../ops/linear';
import { repeatKvHeads } from '../ops/validate';
import { mixerInput } from '../softmax/heads';
import { ProjectedAttention, headLayout, projectedParameters } from '../softmax/projected';
import type { LinearConfig } from './config';
import { LinearState } from './state';

/** What a linear mixer hands the op for one call: feature-mapped q and k, v, and its options. */
export interface LinearInputs {
  q: tf.Tensor4D;
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  options?: Omit<LinearAttentionOptions, 'form' | 'chunkSize' | 'causal' | 'initialState'>;
}

/**
 * Parameters of a linear mixer's q/k/v/o projections, plus an output gate
 * Linear(dModel, heads·headDim) when `gated` (RetNet's W_G, TransNormerLLM's W_U, GLA's W_r):
 * the registry's estimate, computed without allocating.
 */
export function linearMixerParameters(c: LinearConfig, gated = false): number {
  if (!gated) return projectedParameters(c);
  const { outputHeads, valueDim } = headLayout(c);
  const width = outputHeads * valueDim;
  return projectedParameters(c) + c.dModel * width + ((c.bias ?? false) ? width : 0);
}

/**
 * Base of the linear-attention mixers: q/k/v/o projections (ProjectedAttention), the op
 * `linearAttention` in its chunked or parallel form for training and its recurrent form for
 * decoding, a constant-size `LinearState`. A mixer says how it maps q and k (`inputs`) and, if
 * it needs to, how it post-processes the heads (`finish`); everything else is shared.
 */
export abstract class LinearMixer<C extends LinearConfig = LinearConfig>
  extends ProjectedAttention<C>
  implements TokenMixer
{
  /** Feature-mapped q, k (and v, options: decay, gate, normalize) from the projected heads. */
  protected abstract inputs(
    q: tf.Tensor4D,
    k: tf.Tensor4D,
    v: tf.Tensor4D,
    x: tf.Tensor3D,
    context: MixerContext,
  ): LinearInputs;

  /** Heads [b, heads, t, dv] after the op, before the output projection (identity here). */
  protected finish(heads: tf.Tensor4D, _x: tf.Tensor3D): tf.Tensor4D {
    return heads;
  }

  /** Constant state, no masks, no weights map; rotary applies to q and k before the feature map. */
  override get capabilities(): MixerCapabilities {
    return {
      ...super.capabilities,
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      stateGrowth: 'constant',
      keyValuePrefix: false,
    };
  }

  initState(_batch: number): LinearState {
    return new LinearState();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const block = this.config.type;
    const caps = this.capabilities;
    const input = mixerInput(
      block,
      x,
      this.config.dModel,
      context,
      LinearState,
      this.training,
      caps,
    );
    const { state, queryPositions, time } = input;
    const causal = this.isCausal(context);
    const [output, kv, kSum] = tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(x, queryPositions, context.positional);
      const heads = q.shape[1];
      const [k, v] = [repeatKvHeads(keys, heads), repeatKvHeads(values, heads)];
      const mapped = this.inputs(q, k, v, x, context);
      const decoding = state !== undefined && time === 1;
      const result = linearAttention(mapped.q, mapped.k, mapped.v, {
        ...mapped.options,
        causal,
        form: decoding ? 'recurrent' : (this.config.form ?? 'chunk'),
        chunkSize: this.config.chunkSize,
        initialState: state?.sums,
      });
      const out = this.mergeAndProject(this.finish(result.output, x), context.heads);
      return [out, result.state.kv, ...(result.state.kSum ? [result.state.kSum] : [])];
    });
    if (state) state.update({ kv: kv as tf.Tensor4D, kSum: kSum as tf.Tensor3D | undefined }, time);
    else tf.dispose([kv!, ...(kSum ? [kSum] : [])]);
    return output as tf.Tensor3D;
  }
}
