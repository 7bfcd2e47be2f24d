// Landmark tokens of a decoder LM (Mohtashami & Jaggi 2023, "Landmark Attention", sec. 3): a
// landmark after every blockSize tokens goes through the whole network, so each layer's key of it
// can stand for its block; its output has no next-token target and is dropped, so callers give
// and get their own tokens only. The landmark is a learned embedding of its own (the paper's extra
// vocabulary entry), so the data's vocabulary needs no reserved id; maxLength counts the caller's
// tokens and the positions cover them with their landmarks. Insertion and removal are reshapes of
// whole blocks, with no read back from the backend.
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { ConfigError, Embedding, ShapeError, estimateOf } from '@attnkit/core';
import type { Estimate, ModuleOptions } from '@attnkit/core';
import type { TransformerBlock } from '../blocks/transformer-block';
import { sizeSchema } from './fields';

export const landmarkSchema = z.strictObject({
  /** Regular tokens per block; a landmark follows each block (period blockSize + 1). */
  blockSize: sizeSchema,
});
export type LandmarkConfig = z.infer<typeof landmarkSchema>;

/** Positions (landmarks included) after `regular` regular tokens. */
export function landmarkLength(regular: number, blockSize: number): number {
  return regular + Math.floor(regular / blockSize);
}

/** Positions the model's positional encoding must cover: maxLength tokens and their landmarks. */
export function streamMaxLength(maxLength: number, config: LandmarkConfig | undefined): number {
  return config ? landmarkLength(maxLength, config.blockSize) : maxLength;
}

/** Positions that `time` more tokens add to a stream of `offset` positions. */
export function streamLength(offset: number, time: number, { blockSize }: LandmarkConfig): number {
  return landmarkLength(regularCount(offset, blockSize) + time, blockSize) - offset;
}

/** Regular tokens among the first `length` positions (a stream never ends before a landmark). */
function regularCount(length: number, blockSize: number): number {
  return length - Math.floor(length / (blockSize + 1));
}

/** The landmark's embedding, [1, dModel] (`landmark.weight`). */
export function buildLandmarkEmbedding(dModel: number, options: ModuleOptions): Embedding {
  return new Embedding({ numEmbeddings: 1, dim: dModel }, options);
}

/** What the landmark option adds to a model: its embedding. */
export function estimateLandmarks(config: LandmarkConfig | undefined, dModel: number): Estimate {
  return estimateOf(config ? dModel : 0);
}

/**
 * Token embeddings x [b, t, d] continuing a stream of `offset` positions -> the stream with the
 * landmark embedding after every blockSize-th token, [b, streamLength(offset, t), d].
 */
export function insertLandmarks(
  x: tf.Tensor3D,
  landmark: Embedding,
  offset: number,
  { blockSize: B }: LandmarkConfig,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, t, d] = x.shape;
    const lead = regularCount(offset, B) % B; // tokens of the open block already in the stream
    const blocks = Math.ceil((lead + t) / B);
    const padded = tf.pad(x, [
      [0, 0],
      [lead, blocks * B - lead - t],
      [0, 0],
    ]);
    const marks = tf.tile(tf.reshape(landmark.weight, [1, 1, 1, d]), [b, blocks, 1, 1]);
    const stream = tf.concat([tf.reshape(padded, [b, blocks, B, d]), marks], 2);
    const length = streamLength(offset, t, { blockSize: B });
    const flat = tf.reshape(stream, [b, blocks * (B + 1), d]);
    return tf.slice(flat, [0, lead, 0], [-1, length, -1]) as tf.Tensor3D;
  });
}

/** h [b, positions, d] of the stream from `offset` (as insertLandmarks made it) -> [b, t, d]. */
export function dropLandmarks(
  h: tf.Tensor3D,
  offset: number,
  time: number,
  { blockSize }: LandmarkConfig,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, n, d] = h.shape;
    const P = blockSize + 1;
    const lead = offset % P; // < blockSize: a stream never ends on a landmark
    const blocks = Math.ceil((lead + n) / P);
    const padded = tf.pad(h, [
      [0, 0],
      [lead, blocks * P - lead - n],
      [0, 0],
    ]);
    // Keep the regular slots of each block; the landmark slot goes.
    const [regular] = tf.split(tf.reshape(padded, [b, blocks, P, d]), [blockSize, 1], 2);
    const flat = tf.reshape(regular!, [b, blocks * blockSize, d]);
    return tf.slice(flat, [0, lead, 0], [-1, time, -1]) as tf.Tensor3D;
  });
}

/**
 * Every mixer that finds landmarks by position (`landmarkBlockSize`: landmark-attention) needs a
 * model with landmarks of its blockSize.
 */
export function checkLandmarks(
  config: LandmarkConfig | undefined,
  blocks: readonly TransformerBlock[],
  pathOf: (layer: number) => string,
): void {
  blocks.forEach((block, i) => {
    const size = (block.mixer as { landmarkBlockSize?: unknown }).landmarkBlockSize;
    if (typeof size !== 'number' || size === config?.blockSize) return;
    const want = config
      ? `blockSize=${config.blockSize} (as $.landmark.blockSize)`
      : `a model with landmark tokens ($.landmark: { blockSize: ${size} })`;
    throw new ConfigError('decoder-lm', `${pathOf(i)}.mixer.blockSize`, want, String(size));
  });
}

/**
 * The model's landmark config for one call; masks and segment ids index the caller's tokens, not
 * the stream with landmarks, so they are refused with it.
 */
export function checkLandmarkCall(
  config: LandmarkConfig | undefined,
  options: { mask?: unknown; segmentIds?: unknown },
): LandmarkConfig | undefined {
  for (const key of ['mask', 'segmentIds'] as const) {
    if (config && options[key] !== undefined) {
      throw new ShapeError('decoder-lm', key, 'none with landmark tokens ($.landmark)', 'one');
    }
  }
  return config;
}
