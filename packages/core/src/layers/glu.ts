import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Module, type ModuleOptions } from '../module';
import { parseConfig, register } from '../registry';
import { estimateOf } from '../limits';
import type { EntryInfo } from '../named-registry';
import type { FeedForward } from '../contracts';
import type { FusedDecoderFeedForward } from '../fused-decoder';
import { activationNameSchema, getActivation } from './activations';
import { Linear } from './linear';
import { Dropout } from './dropout';
import { gatedActivationKernel } from './glu-kernel';

export type GLUType = 'glu' | 'swiglu' | 'geglu' | 'reglu';

const variantActivation: Record<Exclude<GLUType, 'glu'>, string> = {
  swiglu: 'silu',
  geglu: 'gelu',
  reglu: 'relu',
};

const common = {
  dim: z.number().int().positive(),
  hiddenDim: z.number().int().positive(),
  bias: z.boolean().optional(),
  dropout: z.number().min(0).lt(1).optional(),
};

export const gluSchema = z.strictObject({
  type: z.literal('glu'),
  /** Only for type 'glu'; the named variants fix it. */
  activation: activationNameSchema.optional(),
  ...common,
});

/** The config of any variant: `gluSchema`'s fields with the variant's type. */
export type GLUConfig = Omit<z.input<typeof gluSchema>, 'type'> & { type: GLUType };

/** Schemas of the named variants: the same fields minus `activation`. */
const variantSchema = (type: Exclude<GLUType, 'glu'>) =>
  z.strictObject({ type: z.literal(type), ...common });

const schemas: Record<GLUType, z.ZodType<GLUConfig>> = {
  glu: gluSchema,
  swiglu: variantSchema('swiglu'),
  geglu: variantSchema('geglu'),
  reglu: variantSchema('reglu'),
};

/**
 * Gated feed-forward down(act(gate(x)) ⊙ up(x)) (Shazeer 2020, eqs. 5–6); act(·) ⊙ · is one
 * fused kernel with its gradient where the backend has it.
 */
export class GLU extends Module<GLUConfig> implements FeedForward {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
  /** The activation's name: `activation` for 'glu' (default silu), the variant's otherwise. */
  readonly activation: string;
  private readonly dropout: Dropout;
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(config: Omit<GLUConfig, 'type'> & { type?: GLUType }, options: ModuleOptions = {}) {
    const type = config.type ?? 'glu';
    super(parseConfig(type, schemas[type] ?? gluSchema, { ...config, type }), options);
    const bias = config.bias ?? false;
    this.activation = type === 'glu' ? (config.activation ?? 'silu') : variantActivation[type];
    this.act = getActivation(this.activation);
    const { dim, hiddenDim } = config;
    this.gate = this.addModule(
      'gate',
      new Linear({ inFeatures: dim, outFeatures: hiddenDim, bias }, options),
    );
    this.up = this.addModule(
      'up',
      new Linear({ inFeatures: dim, outFeatures: hiddenDim, bias }, options),
    );
    this.down = this.addModule(
      'down',
      new Linear({ inFeatures: hiddenDim, outFeatures: dim, bias }, options),
    );
    this.dropout = this.addModule('dropout', new Dropout({ rate: config.dropout ?? 0 }, options));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const gate = this.gate.forward(x);
      const up = this.up.forward(x);
      const hidden = gatedActivationKernel(this.act, gate, up) ?? tf.mul(this.act(gate), up);
      return this.down.forward(this.dropout.forward(hidden));
    });
  }

  /** Its part of a fused decoder's spec (contract 7); dropout is off when decoding. */
  fusedDecoding(): FusedDecoderFeedForward {
    return {
      activation: this.activation,
      hiddenDim: this.config.hiddenDim,
      up: this.up.fusedDecoding(),
      gate: this.gate.fusedDecoding(),
      down: this.down.fusedDecoding(),
    };
  }
}

const variants = ['glu', 'swiglu', 'geglu', 'reglu'] as const;
/** What the docs list about each variant. */
const variantInfo: Record<(typeof variants)[number], EntryInfo> = {
  glu: {
    paper: 'Dauphin et al. 2017, Language Modeling with Gated Convolutional Networks; Shazeer 2020',
    summary:
      'Gated feed-forward down(act(gate(x)) ⊙ up(x)) with a named activation (SiLU by default).',
    example: { type: 'glu', dim: 4, hiddenDim: 8 },
  },
  swiglu: {
    paper: 'Shazeer 2020, GLU Variants Improve Transformer',
    equation: 'eqs. 5-6',
    summary: 'Gated feed-forward with a SiLU (Swish) gate.',
    example: { type: 'swiglu', dim: 4, hiddenDim: 8 },
  },
  geglu: {
    paper: 'Shazeer 2020, GLU Variants Improve Transformer',
    equation: 'eqs. 5-6',
    summary: 'Gated feed-forward with a GELU gate.',
    example: { type: 'geglu', dim: 4, hiddenDim: 8 },
  },
  reglu: {
    paper: 'Shazeer 2020, GLU Variants Improve Transformer',
    equation: 'eqs. 5-6',
    summary: 'Gated feed-forward with a ReLU gate.',
    example: { type: 'reglu', dim: 4, hiddenDim: 8 },
  },
};

for (const type of variants) {
  register(type, (c: GLUConfig, o) => new GLU(c, o), schemas[type], {
    category: 'feedforward',
    estimate: (c) =>
      estimateOf(3 * c.dim * c.hiddenDim + ((c.bias ?? false) ? 2 * c.hiddenDim + c.dim : 0)),
    info: variantInfo[type],
  });
}
