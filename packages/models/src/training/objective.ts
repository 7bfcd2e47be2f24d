import * as tf from '@tensorflow/tfjs-core';
import type { AuxLossCollector } from '@attnkit/core';
import { ConfigError } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import type { Encoder } from '../assemblies/encoder';
import type { EncoderDecoder } from '../assemblies/encoder-decoder';
import type { ViT } from '../assemblies/vit';
import type { ClassBatch, MaskedBatch, Seq2SeqBatch } from '../tasks/encoder-tasks';
import type { ImageBatch } from '../tasks/image-task';
import { classAccuracy } from '../tasks/image-task';
import type { TaskBatch } from '../tasks/task';
import { answerAccuracy } from '../tasks/task';
import type { Batch } from './data';
import { crossEntropy } from './loss';

/**
 * What the Trainer trains: decoder LMs on token batches, ViTs on image batches, encoders on
 * masked-LM or classification batches, encoder-decoders on seq2seq batches.
 */
export type TrainableModel = DecoderLM | ViT | Encoder | EncoderDecoder;

/**
 * Logits and loss of `model` on `batch`, by the batch's kind (a model of another kind is a
 * ConfigError), all cross-entropy:
 * - token batches (decoder-lm): next token, weighted to the answer positions, logits `[b, t, vocab]`;
 * - image batches (vit) and `classes` batches (encoder with numClasses): class logits `[b, classes]`;
 * - `masked` batches (encoder): the MLM head's logits at the masked positions (BERT sec. 3.1);
 * - `seq2seq` batches (encoder-decoder): teacher-forced target logits, every position.
 */
export function batchLoss(
  model: TrainableModel,
  batch: Batch,
  options: { training: boolean; aux?: AuxLossCollector },
): { logits: tf.Tensor; loss: tf.Scalar } {
  const type = String(model.config.type);
  const kind = batchKind(batch);
  const want = (t: string, expected: string, ok = true) => {
    if (type !== t || !ok)
      mismatch(type, `${kind === 'tokens' ? 'token' : kind} batches`, expected);
  };
  if (kind === 'image') {
    want('vit', "a 'vit' model with numClasses", (model as ViT).config.numClasses !== undefined);
    return tf.tidy(() => {
      const { images, labels } = imageBatchTensors(batch as ImageBatch);
      const logits = (model as ViT).forward(images, options);
      return { logits, loss: classLoss(logits, labels) };
    });
  }
  if (kind === 'classes') {
    const ok = (model as Encoder).config.numClasses !== undefined;
    want('encoder', "an 'encoder' model with numClasses", ok);
    return tf.tidy(() => {
      const b = batch as ClassBatch;
      const ids = tf.tensor2d(b.inputs, [b.batchSize, b.seqLen], 'int32');
      const logits = (model as Encoder).forward(ids, options);
      return { logits, loss: classLoss(logits, tf.tensor1d(b.labels, 'int32')) };
    });
  }
  if (kind === 'masked') {
    want('encoder', "an 'encoder' model with an mlmHead", Boolean((model as Encoder).mlmHead));
    return tf.tidy(() => {
      const { ids, targets, weights } = batchTensors(batch as MaskedBatch);
      const logits = (model as Encoder).maskedLmLogits(ids, options);
      return { logits, loss: crossEntropy(logits, targets, weights) };
    });
  }
  if (kind === 'seq2seq') {
    want('encoder-decoder', "an 'encoder-decoder' model");
    return tf.tidy(() => {
      const b = batch as Seq2SeqBatch;
      const src = tf.tensor2d(b.sources, [b.batchSize, b.sourceLen], 'int32');
      const tgt = tf.tensor2d(b.inputs, [b.batchSize, b.targetLen], 'int32');
      const targets = tf.tensor2d(b.targets, [b.batchSize, b.targetLen], 'int32');
      const logits = (model as EncoderDecoder).forward(src, tgt, options);
      return { logits, loss: crossEntropy(logits, targets) };
    });
  }
  want('decoder-lm', "a 'decoder-lm' model");
  return tf.tidy(() => {
    const { ids, targets, weights } = batchTensors(batch as TaskBatch);
    const logits = (model as DecoderLM).forward(ids, options);
    return { logits, loss: crossEntropy(logits, targets, weights) };
  });
}

/** Cross-entropy of class logits `[b, classes]` against labels `[b]`. */
function classLoss(logits: tf.Tensor, labels: tf.Tensor1D): tf.Scalar {
  return crossEntropy(tf.expandDims(logits, 1) as tf.Tensor3D, tf.expandDims(labels, 1));
}

/** `tokens` for a plain TaskBatch (no kind field), else the batch's kind. */
export function batchKind(batch: Batch): 'tokens' | 'image' | 'classes' | 'masked' | 'seq2seq' {
  return (batch as { kind?: 'image' | 'classes' | 'masked' | 'seq2seq' }).kind ?? 'tokens';
}

function mismatch(type: string, batches: string, expected: string): never {
  throw new ConfigError('Trainer', 'model', `${expected} for ${batches}`, `a '${type}' model`);
}

/**
 * Accuracy of argmax ids: answer positions (token batches), masked positions (masked), target
 * tokens (seq2seq), or classes (image and classes batches).
 */
export function batchAccuracy(predicted: ArrayLike<number>, batch: Batch): number {
  const kind = batchKind(batch);
  if (kind === 'image') return classAccuracy(predicted, batch as ImageBatch);
  if (kind === 'classes') {
    const { labels } = batch as ClassBatch;
    return labels.reduce((n, l, i) => n + (predicted[i] === l ? 1 : 0), 0) / labels.length;
  }
  if (kind === 'seq2seq') {
    const { targets } = batch as Seq2SeqBatch;
    return targets.reduce((n, t, i) => n + (predicted[i] === t ? 1 : 0), 0) / targets.length;
  }
  return answerAccuracy(predicted, batch as TaskBatch);
}

/** Tokens the model reads for a batch: positions, images × patches, or source + target. */
export function batchTokens(model: TrainableModel, batch: Batch): number {
  const kind = batchKind(batch);
  if (kind === 'image') return batch.batchSize * ((model as ViT).patches?.numPatches ?? 1);
  if (kind === 'seq2seq') {
    const b = batch as Seq2SeqBatch;
    return b.batchSize * (b.sourceLen + b.targetLen);
  }
  return batch.batchSize * (batch as TaskBatch).seqLen;
}

export function batchTensors(batch: TaskBatch | MaskedBatch): {
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
