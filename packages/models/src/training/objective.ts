import * as tf from '@tensorflow/tfjs-core';
import type { AuxLossCollector } from '@attnkit/core';
import { ConfigError } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import type { ViT } from '../assemblies/vit';
import type { ImageBatch } from '../tasks/image-task';
import { classAccuracy } from '../tasks/image-task';
import type { TaskBatch } from '../tasks/task';
import { answerAccuracy } from '../tasks/task';
import type { Batch } from './data';
import { crossEntropy } from './loss';

/** What the Trainer trains: decoder LMs on token batches, ViTs on image batches. */
export type TrainableModel = DecoderLM | ViT;

const isImage = (batch: Batch): batch is ImageBatch => (batch as ImageBatch).kind === 'image';

/**
 * Logits and loss of `model` on `batch`, by the batch's kind: next-token cross-entropy weighted
 * to the answer positions (token batches, logits `[b, t, vocab]`), or cross-entropy on the class
 * logits (image batches, logits `[b, numClasses]`). A model of the other kind is a ConfigError.
 */
export function batchLoss(
  model: TrainableModel,
  batch: Batch,
  options: { training: boolean; aux?: AuxLossCollector },
): { logits: tf.Tensor; loss: tf.Scalar } {
  const type = String(model.config.type);
  if (isImage(batch)) {
    if (type !== 'vit' || (model as ViT).config.numClasses === undefined)
      mismatch(type, 'image batches', "a 'vit' model with numClasses");
    return tf.tidy(() => {
      const { images, labels } = imageBatchTensors(batch);
      const logits = (model as ViT).forward(images, options);
      const loss = crossEntropy(tf.expandDims(logits, 1) as tf.Tensor3D, tf.expandDims(labels, 1));
      return { logits, loss };
    });
  }
  if (type !== 'decoder-lm') mismatch(type, 'token batches', "a 'decoder-lm' model");
  return tf.tidy(() => {
    const { ids, targets, weights } = batchTensors(batch);
    const logits = (model as DecoderLM).forward(ids, options);
    return { logits, loss: crossEntropy(logits, targets, weights) };
  });
}

function mismatch(type: string, batches: string, expected: string): never {
  throw new ConfigError('Trainer', 'model', `${expected} for ${batches}`, `a '${type}' model`);
}

/** Answer accuracy (token batches) or class accuracy (image batches) of argmax ids. */
export function batchAccuracy(predicted: ArrayLike<number>, batch: Batch): number {
  return isImage(batch) ? classAccuracy(predicted, batch) : answerAccuracy(predicted, batch);
}

/** Tokens the model reads for a batch: positions, or images × patches for a ViT. */
export function batchTokens(model: TrainableModel, batch: Batch): number {
  if (isImage(batch)) return batch.batchSize * ((model as ViT).patches?.numPatches ?? 1);
  return batch.batchSize * batch.seqLen;
}

export function batchTensors(batch: TaskBatch): {
  ids: tf.Tensor2D;
  targets: tf.Tensor2D;
  weights: tf.Tensor2D;
} {
  const shape: [number, number] = [batch.batchSize, batch.seqLen];
  return {
    ids: tf.tensor2d(batch.inputs, shape, 'int32'),
    targets: tf.tensor2d(batch.targets, shape, 'int32'),
    weights: tf.tensor2d(batch.weights, shape, 'float32'),
  };
}

export function imageBatchTensors(batch: ImageBatch): {
  images: tf.Tensor4D;
  labels: tf.Tensor1D;
} {
  const { batchSize: b, imageSize: s, channels: c } = batch;
  return {
    images: tf.tensor4d(batch.images, [b, s, s, c], 'float32'),
    labels: tf.tensor1d(batch.labels, 'int32'),
  };
}
