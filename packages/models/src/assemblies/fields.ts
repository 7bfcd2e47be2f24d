// Config fields the assemblies share, spread into each model's closed schema in its field order.
import { z } from 'zod';
import { slotSchema } from '@attnkit/core';
import { blockTemplateSchema, layerOverridesSchema, linearInitSchema } from './stack';

/**
 * A nested config (positional encoding, norm, mixer): its registry `type` and its own options,
 * checked by that type's schema when built and typed as core's `SlotConfig` for the compiler.
 */
export const nestedSchema = slotSchema();

/** A width, count or length. */
export const sizeSchema = z.number().int().positive();

/** A model over token ids with one stack of blocks (encoder, decoder LM). */
export const tokenStackFields = {
  vocabSize: sizeSchema,
  dModel: sizeSchema,
  numLayers: sizeSchema,
  maxLength: sizeSchema,
  positional: nestedSchema,
  block: blockTemplateSchema,
  layerOverrides: layerOverridesSchema.optional(),
};

/** The last field of every assembly. */
export const linearInitField = {
  /**
   * Redraw every Linear weight of the model with this initializer (core's init spec), e.g.
   * `{ name: 'kaiming-uniform', gain: 0.57735 }`, PyTorch's nn.Linear default; absent, each
   * block keeps its own.
   */
  linearInit: linearInitSchema,
};

/** The token embedding's initializer, for the assemblies that read token ids. */
export const embeddingInitField = {
  /**
   * Initializer of the token embedding (core's init spec); absent, N(0, 0.02²) as in GPT-2.
   * Small models learn in-context recall far sooner from N(0, 1) (`{ name: 'normal', std: 1 }`).
   */
  embeddingInit: linearInitSchema,
};
