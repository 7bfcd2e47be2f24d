import type * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type {
  FusedDecoderPositional,
  ModuleOptions,
  PositionalEncoding,
  RotaryParameters,
} from '@attnkit/core';
import { Module, register, parseConfig, estimateOf } from '@attnkit/core';
import { type ResolvedRotary, resolveRotary, rotaryFields } from './frequencies';
import { rotate } from './apply-rotary';

export const rotarySchema = z.strictObject({
  type: z.literal('rotary').default('rotary'),
  ...rotaryFields,
});
export type RotaryConfig = z.input<typeof rotarySchema>;

/**
 * Rotary position embedding as a module (Su et al., RoFormer, eq. 34), with optional linear,
 * NTK-aware or YaRN scaling; see `applyRotary`. Mixers call `rotate` on queries and keys and
 * multiply their logits by `logitScale` (YaRN's temperature, 1 otherwise). No parameters.
 */
export class RotaryPositional
  extends Module<z.output<typeof rotarySchema>>
  implements PositionalEncoding
{
  readonly kind = 'rotate' as const;
  readonly logitScale: number;
  private readonly resolved: ResolvedRotary;

  constructor(config: RotaryConfig, options: ModuleOptions = {}) {
    const c = parseConfig('rotary', rotarySchema, config);
    const { type: _type, ...fields } = c;
    const resolved = resolveRotary(fields);
    super(c, options);
    this.resolved = resolved;
    this.logitScale = resolved.logitScale;
  }

  /** The (scaled) angular frequencies theta_i, `rotaryDim / 2` of them. */
  get inverseFrequencies(): readonly number[] {
    return this.resolved.invFreq;
  }

  /** Its angles, for mixers that rotate while splitting heads (`splitHeadsKernel`). */
  get rotary(): RotaryParameters {
    const { headDim, invFreq, layout } = this.resolved;
    return { headDim, inverseFrequencies: invFreq, layout };
  }

  rotate(x: tf.Tensor4D, positions: tf.Tensor1D): tf.Tensor4D {
    return rotate(x, positions, this.resolved);
  }

  /** Its part of a fused decoder's spec (contract 7); mixers' heads must be `headDim` wide. */
  fusedDecoding(): FusedDecoderPositional {
    const { layout, rotaryDim, headDim } = this.config;
    return {
      rotary: {
        layout,
        rotaryDim: rotaryDim ?? headDim,
        inverseFrequencies: Float32Array.from(this.inverseFrequencies),
      },
      rotaryHeadDim: headDim,
    };
  }
}

register('rotary', (c, o) => new RotaryPositional(c, o), rotarySchema, {
  category: 'positional',
  estimate: (c) => estimateOf(0, ((c.rotaryDim ?? c.headDim) / 2) * 8),
  info: {
    paper: 'Su et al. 2021, RoFormer',
    equation: 'eq. 34',
    summary:
      'Rotary position embedding on queries and keys, with linear, NTK-aware or YaRN scaling.',
    example: { type: 'rotary', headDim: 4 },
  },
});
