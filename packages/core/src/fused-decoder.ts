import * as tf from '@tensorflow/tfjs-core';
import type { FusedDecoderBackend } from '@attnkit/kernels';

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
  FusedDecoderNorm,
  FusedDecoderSpec,
} from '@attnkit/kernels';

/** The active backend when it offers a fused decoder (backend-native does), else undefined. */
export function fusedDecoderBackend(): FusedDecoderBackend | undefined {
  const backend = tf.backend() as Partial<FusedDecoderBackend>;
  return typeof backend.createFusedDecoder === 'function'
    ? (backend as FusedDecoderBackend)
    : undefined;
}
