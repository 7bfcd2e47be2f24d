import type { Rng } from '@attnkit/core';

/** One image, `[imageSize, imageSize, channels]` row-major (NHWC without the batch), and its class. */
export interface ImageExample {
  image: Float32Array;
  label: number;
}

/**
 * A synthetic image-classification task (`kind: 'image'`): a `vit` trains on it, where a
 * decoder LM trains on a token `SyntheticTask`.
 */
export interface ImageTask {
  readonly kind: 'image';
  readonly name: string;
  readonly imageSize: number;
  readonly channels: number;
  readonly numClasses: number;
  /** The options that rebuild this task, for saving with a run. */
  readonly options: Record<string, number>;
  sample(rng: Rng): ImageExample;
}

/** A batch for classification: `images` `[batch, size, size, channels]`, `labels` `[batch]`. */
export interface ImageBatch {
  kind: 'image';
  batchSize: number;
  imageSize: number;
  channels: number;
  images: Float32Array;
  labels: Int32Array;
}

/** Draws `batchSize` examples of an image task. */
export function makeImageBatch(task: ImageTask, rng: Rng, batchSize: number): ImageBatch {
  const { imageSize, channels } = task;
  const pixels = imageSize * imageSize * channels;
  const images = new Float32Array(batchSize * pixels);
  const labels = new Int32Array(batchSize);
  for (let b = 0; b < batchSize; b++) {
    const { image, label } = task.sample(rng);
    images.set(image, b * pixels);
    labels[b] = label;
  }
  return { kind: 'image', batchSize, imageSize, channels, images, labels };
}

/** Fraction of images whose predicted class (argmax ids, `[batch]`) is the label. */
export function classAccuracy(predicted: ArrayLike<number>, batch: ImageBatch): number {
  let right = 0;
  for (let i = 0; i < batch.batchSize; i++) if (predicted[i] === batch.labels[i]) right++;
  return batch.batchSize === 0 ? 0 : right / batch.batchSize;
}
