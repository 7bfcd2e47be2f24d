import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import type { Encoder } from '../assemblies/encoder';
import type { EncoderDecoder } from '../assemblies/encoder-decoder';
import type { BatchTask } from '../tasks';
import { generateSeq2Seq } from '../generation/seq2seq';
import type { TrainableModel } from '../training/objective';
import { batchLoss } from '../training/objective';
import type { ViT } from '../assemblies/vit';
import type { ImageTask } from '../tasks';
import { makeImageBatch } from '../tasks';
import { imageBatchTensors } from '../training/objective';
import { generate } from '../generation/generate';
import type { SyntheticTask } from '../tasks';
import type { Tokenizer } from '../tokenizers';

/**
 * What `attnkit train` shows at the end: for a task, a fresh example's prompt with the model's
 * greedy answers to each query next to the expected ones; for text, a short continuation of
 * `start` (the data's first token: a Hugging Face tokenizer's id 0 may be a special token).
 */
export async function sampleText(
  model: DecoderLM,
  tokenizer: Tokenizer,
  task: SyntheticTask | undefined,
  seed: number,
  start = 0,
): Promise<string> {
  if (task) {
    const { tokens, answers } = task.sample(new Rng(seed + 77));
    const got: number[] = [];
    for (const at of answers) {
      const [id] = await generate(model, tokens.slice(0, at), { maxTokens: 1, temperature: 0 });
      got.push(id!);
    }
    const want = answers.map((at) => tokens[at]!);
    const prompt = tokens.slice(0, answers[0]!).join(' ');
    return `[${prompt} ...] answers ${got.join(' ')} (expected ${want.join(' ')})`;
  }
  const out = await generate(model, [start], {
    maxTokens: Math.min(80, model.config.maxLength - 1),
    temperature: 0.8,
    seed,
  });
  return JSON.stringify(tokenizer.decode([start, ...out]));
}

/** What `attnkit train` shows for an image task: the classes of 8 fresh images, and the truth. */
export function sampleImages(model: ViT, task: ImageTask, seed: number): string {
  const batch = makeImageBatch(task, new Rng(seed + 77), 8);
  const predicted = tf.tidy(() => {
    const { images } = imageBatchTensors(batch);
    return Array.from(tf.argMax(model.forward(images, { training: false }), -1).dataSync());
  });
  return `classes ${predicted.join(' ')} (expected ${Array.from(batch.labels).join(' ')})`;
}

/**
 * What `attnkit train` shows for an encoder or encoder-decoder task: a masked example's fills,
 * the classes of 8 fresh sequences, or a greedy (not teacher-forced) decoding of one source.
 */
export function sampleBatchTask(model: TrainableModel, task: BatchTask, seed: number): string {
  const rng = new Rng(seed + 77);
  if (task.kind === 'seq2seq') {
    const { source, target } = task.sample(rng);
    const got = generateSeq2Seq(model as EncoderDecoder, source, {
      bos: task.bos,
      maxTokens: target.length,
    });
    return `source ${source.join(' ')} -> ${got.join(' ')} (expected ${target.join(' ')})`;
  }
  const batch = task.batch(rng, task.kind === 'classes' ? 8 : 1);
  const predicted = tf.tidy(() => {
    const { logits } = batchLoss(model as Encoder, batch, { training: false });
    return Array.from(tf.argMax(logits, -1).dataSync());
  });
  if (batch.kind === 'classes')
    return `classes ${predicted.join(' ')} (expected ${Array.from(batch.labels).join(' ')})`;
  const at = Array.from(batch.weights.keys()).filter((i) => batch.weights[i] === 1);
  return `[${Array.from(batch.inputs).join(' ')}] masked at ${at.join(' ')}: ${at
    .map((i) => predicted[i])
    .join(' ')} (expected ${at.map((i) => batch.targets[i]).join(' ')})`;
}
