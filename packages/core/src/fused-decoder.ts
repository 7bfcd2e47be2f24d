import * as tf from '@tensorflow/tfjs-core';
import type { FusedDecoderBackend, FusedDecoderSpec } from '@attnkit/kernels';

// Contract 7 for a whole model: the protocol (spec, decoder, backend) is declared once in
// @attnkit/kernels, which backends import without depending on core; re-exported here so
// models and users keep importing it from core.
export type {
  FusedDecoder,
  FusedDecoderAttention,
  FusedDecoderBackend,
  FusedDecoderDense,
  FusedDecoderFeedForward,
  FusedDecoderLayer,
  FusedDecoderMoE,
  FusedDecoderNorm,
  FusedDecoderOptions,
  FusedDecoderSpec,
} from '@attnkit/kernels';

/** The active backend when it offers a fused decoder (backend-native does), else undefined. */
export function fusedDecoderBackend(): FusedDecoderBackend | undefined {
  const backend = tf.backend() as Partial<FusedDecoderBackend>;
  return typeof backend.createFusedDecoder === 'function'
    ? (backend as FusedDecoderBackend)
    : undefined;
}

/** What a module is told when asked for its part of a FusedDecoderSpec. */
export interface FusedDecodingContext {
  /** Where the module sits in the model (`layers[0].mixer`), to name it in a refusal. */
  path: string;
  dModel: number;
  /** The context length: a position table has this many rows. */
  maxLength: number;
  /** The positional encoding's logit multiplier (YaRN's temperature), 1 otherwise. */
  logitScale: number;
  /** The head width of the model's rotary encoding, when it has one. */
  rotaryHeadDim?: number;
}

/** A positional encoding's part: a rotation (for heads of `rotaryHeadDim`) or a table. */
export type FusedDecoderPositional = Pick<FusedDecoderSpec, 'rotary' | 'positionTable'> & {
  rotaryHeadDim?: number;
};

/**
 * A module that describes itself for a backend's fused decoder: its part of the spec (weights
 * read in place), or a one-line reason, naming `context.path`, why the decoder cannot run it.
 */
export interface FusedDecodable<Part> {
  fusedDecoding(context: FusedDecodingContext): Part | string;
}

/** `module`'s own part of the spec or its refusal; `otherwise` when it does not describe itself. */
export function fusedDecodingOf<Part>(
  module: unknown,
  context: FusedDecodingContext,
  otherwise: string,
): Part | string {
  const m = module as Partial<FusedDecodable<Part>> | undefined;
  return typeof m?.fusedDecoding === 'function' ? m.fusedDecoding(context) : otherwise;
}
