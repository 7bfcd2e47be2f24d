// The frame shared by the causal mixers that pick key blocks per query (HiP, SeerAttention):
// project q/k/v (cache appended), let the mixer choose earlier blocks, attend to the query's own
// block (causal inside) plus the chosen ones, merge heads. A mixer supplies only `select`.
import * as tf from '@tensorflow/tfjs-core';
import {
  SOFTMAX_CAPABILITIES,
  type MixerCapabilities,
  type MixerContext,
  type TokenMixer,
} from '@attnkit/core';
import { KVCache } from '../cache/kv-cache';
import { ownAndSelectedBlocks } from '../ops/moba';
import { checkMixerInput, inputPositions } from '../softmax/heads';
import { ProjectedAttention, type ProjectionConfig } from '../softmax/projected';
import { reportSelection } from './probe';

/** The KV cache plus the queries of the open block (what the next queries' choice pools over). */
export class OpenBlockState extends KVCache {
  get openQueries(): tf.Tensor4D | undefined {
    return this.tensor<tf.Tensor4D>('openQueries');
  }
  setOpenQueries(queries: tf.Tensor4D | null): void {
    this.setTensor('openQueries', queries);
  }
}

/** Config fields every block-selecting mixer has. */
type BlockSelectingConfig = ProjectionConfig & { blockSize: number; form?: 'gather' | 'dense' };

export abstract class BlockSelectingAttention<
  C extends BlockSelectingConfig,
  S extends OpenBlockState,
>
  extends ProjectedAttention<C & { causal?: boolean }>
  implements TokenMixer
{
  /** The registered type, for errors. */
  protected abstract readonly block: string;
  protected abstract readonly stateClass: new () => S;

  /**
   * int32 [b, h, tq, n] earlier key blocks per query, -1 where fewer are kept; off the tape (the
   * choice is data). Queries are end-aligned with `keys`; updates the state's open queries.
   */
  protected abstract select(q: tf.Tensor4D, keys: tf.Tensor4D, state?: S): tf.Tensor4D;

  /** Causal only; rotary on q and k; no masks, segment ids, weights map, head control or prefix. */
  override get capabilities(): MixerCapabilities {
    return {
      ...SOFTMAX_CAPABILITIES,
      causal: 'only',
      positional: ['rotate'],
      masks: false,
      segmentIds: false,
      attentionWeights: 'none',
      headControl: false,
      keyValuePrefix: false,
    };
  }

  initState(): S {
    return new this.stateClass();
  }

  forward(x: tf.Tensor3D, context: MixerContext = {}): tf.Tensor3D {
    const { dModel, blockSize, form } = this.config;
    const state = checkMixerInput(
      this.block,
      x,
      dModel,
      context,
      this.stateClass,
      this.capabilities,
    );
    const positions = inputPositions(this.block, context, x.shape[1], state ? state.length : 0);
    return tf.tidy(() => {
      const { q, keys, values } = this.projectSelf(x, positions, context.positional, state);
      const selected = this.select(q, keys, state);
      reportSelection(this.block, context, 'selectedBlocks', selected);
      const { output } = ownAndSelectedBlocks(q, keys, values, selected, { blockSize, form });
      return this.mergeAndProject(output);
    });
  }
}
