import type * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { parseConfig, register, type ModuleOptions } from '@attnkit/core';
import { RecurrentState } from '../recurrent/state';
import { DeltaMixer, deltaFields, estimateDelta, headDimRule } from './delta-base';

/** 'deltanet': linear attention with the delta rule (Schlag et al. 2021; Yang et al. 2024). */
export const deltaNetSchema = z
  .strictObject({ type: z.literal('deltanet'), ...deltaFields })
  .refine(...headDimRule);
export type DeltaNetConfig = z.input<typeof deltaNetSchema>;

/** DeltaNet's decoding state: the convolution's last dConv-1 inputs and S [b, h, dk, dv]. */
export class DeltaNetState extends RecurrentState {}

/**
 * DeltaNet, "Parallelizing Linear Transformers with the Delta Rule over Sequence Length" (Yang
 * et al. 2024; the delta rule of Schlag et al. 2021): per head S_t = (I − β_t k_t k_tᵀ) S_{t-1}
 * + β_t k_t v_tᵀ, o_t = S_tᵀ q_t / √dk, trained in the chunkwise WY form (sec. 3), in the layer
 * the paper describes (SiLU short convolutions on q, k, v, L2-normalised q and k, β = σ(x W_β), output
 * RMS norm; flash-linear-attention's `DeltaNet` with its defaults, output gate off).
 */
export class DeltaNet extends DeltaMixer<DeltaNetConfig> {
  protected readonly stateKind = DeltaNetState;

  constructor(config: DeltaNetConfig, options: ModuleOptions = {}) {
    super(parseConfig('deltanet', deltaNetSchema, config), options, false);
  }

  protected forgetGate(): tf.Tensor3D | undefined {
    return undefined;
  }
}

register('deltanet', (c, o) => new DeltaNet(c, o), deltaNetSchema, {
  category: 'mixer',
  estimate: (c: DeltaNetConfig) => estimateDelta(c, false),
  info: {
    paper:
      'Yang et al. 2024, Parallelizing Linear Transformers with the Delta Rule over Sequence Length (delta rule: Schlag et al. 2021)',
    equation:
      'S_t = (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ, o_t = S_tᵀ q_t; sec. 3 (chunkwise WY form); the DeltaNet layer (SiLU conv, L2-normalised q/k, RMS norm)',
    summary:
      'delta-rule linear attention: each token overwrites what the state held for its key; constant state',
    example: { type: 'deltanet', dModel: 16, numHeads: 2, dConv: 3, chunkSize: 4 },
  },
});
