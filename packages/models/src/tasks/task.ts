import type { Rng } from '@attnkit/core';
import { ConfigError } from '@attnkit/core';

/** One example: a token sequence and which of its positions hold answers. */
export interface TaskExample {
  tokens: number[];
  /** Indices into `tokens` of the answer tokens (never 0). */
  answers: number[];
}

/**
 * A batch for next-token training: `inputs[b, t]` predicts `targets[b, t] = tokens[t + 1]`;
 * `weights[b, t]` is 1 where the target is an answer, else 0.
 */
export interface TaskBatch {
  batchSize: number;
  seqLen: number;
  inputs: Int32Array;
  targets: Int32Array;
  weights: Float32Array;
}

export interface SyntheticTask {
  readonly name: string;
  readonly vocabSize: number;
  /** Length of `inputs` (the example length minus one). */
  readonly seqLen: number;
  /** The options that rebuild this task, for saving with a run. */
  readonly options: Record<string, number>;
  sample(rng: Rng): TaskExample;
}

/** Draws `batchSize` examples and lays them out for next-token training. */
export function makeBatch(task: SyntheticTask, rng: Rng, batchSize: number): TaskBatch {
  const T = task.seqLen;
  const inputs = new Int32Array(batchSize * T);
  const targets = new Int32Array(batchSize * T);
  const weights = new Float32Array(batchSize * T);
  for (let b = 0; b < batchSize; b++) {
    const { tokens, answers } = task.sample(rng);
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = tokens[t]!;
      targets[b * T + t] = tokens[t + 1]!;
    }
    for (const a of answers) weights[b * T + a - 1] = 1;
  }
  return { batchSize, seqLen: T, inputs, targets, weights };
}

/** Fraction of answer positions where `predicted` (argmax ids, `[batch * seqLen]`) is right. */
export function answerAccuracy(predicted: ArrayLike<number>, batch: TaskBatch): number {
  let right = 0;
  let total = 0;
  for (let i = 0; i < batch.weights.length; i++) {
    if (batch.weights[i] === 0) continue;
    total++;
    if (predicted[i] === batch.targets[i]) right++;
  }
  return total === 0 ? 0 : right / total;
}

/** `n` distinct integers from [lo, hi), in random order. */
export function distinct(rng: Rng, n: number, lo: number, hi: number): number[] {
  const pool = Array.from({ length: hi - lo }, (_, i) => lo + i);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n);
}

export function checkTaskOption(task: string, name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(task, name, `an integer >= ${min}`, String(value));
  }
}
