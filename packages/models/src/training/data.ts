import { ConfigError, Rng } from '@attnkit/core';
import type { BatchTask, ClassBatch, MaskedBatch, Seq2SeqBatch } from '../tasks/encoder-tasks';
import type { ImageBatch, ImageTask } from '../tasks/image-task';
import { makeImageBatch } from '../tasks/image-task';
import type { SyntheticTask, TaskBatch } from '../tasks/task';
import { makeBatch } from '../tasks/task';

/**
 * Token batches train decoder LMs; image batches (`kind: 'image'`) train vits; `masked` and
 * `classes` batches encoders; `seq2seq` batches encoder-decoders.
 */
export type Batch = TaskBatch | ImageBatch | MaskedBatch | ClassBatch | Seq2SeqBatch;

/** Where training batches come from; its state is saved in checkpoints so resume is exact. */
export interface BatchSource {
  next(): Batch;
  getState(): unknown;
  setState(state: unknown): void;
}

/** Fresh examples of a synthetic task, drawn from a seeded generator. */
export class TaskSource implements BatchSource {
  private readonly rng: Rng;

  constructor(
    readonly task: SyntheticTask,
    readonly batchSize: number,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  next(): TaskBatch {
    return makeBatch(this.task, this.rng, this.batchSize);
  }

  getState(): unknown {
    return { rng: this.rng.getState() };
  }

  setState(state: unknown): void {
    this.rng.setState((state as { rng: number[] }).rng);
  }
}

/** Fresh labelled images of a synthetic image task, drawn from a seeded generator. */
export class ImageSource implements BatchSource {
  private readonly rng: Rng;

  constructor(
    readonly task: ImageTask,
    readonly batchSize: number,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  next(): ImageBatch {
    return makeImageBatch(this.task, this.rng, this.batchSize);
  }

  getState(): unknown {
    return { rng: this.rng.getState() };
  }

  setState(state: unknown): void {
    this.rng.setState((state as { rng: number[] }).rng);
  }
}

/** Fresh batches of an encoder or encoder-decoder task (masked, classes, seq2seq). */
export class BatchTaskSource implements BatchSource {
  private readonly rng: Rng;

  constructor(
    readonly task: BatchTask,
    readonly batchSize: number,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  next(): MaskedBatch | ClassBatch | Seq2SeqBatch {
    return this.task.batch(this.rng, this.batchSize);
  }

  getState(): unknown {
    return { rng: this.rng.getState() };
  }

  setState(state: unknown): void {
    this.rng.setState((state as { rng: number[] }).rng);
  }
}

/** Random windows of `seqLen + 1` tokens from a token stream, every position weighted. */
export class TextSource implements BatchSource {
  private readonly rng: Rng;

  constructor(
    readonly ids: Int32Array,
    readonly seqLen: number,
    readonly batchSize: number,
    seed: number,
  ) {
    if (ids.length < seqLen + 1) {
      throw new ConfigError(
        'TextSource',
        'data',
        `at least seqLen + 1 = ${seqLen + 1} tokens`,
        `${ids.length} tokens`,
      );
    }
    this.rng = new Rng(seed);
  }

  next(): TaskBatch {
    const T = this.seqLen;
    const inputs = new Int32Array(this.batchSize * T);
    const targets = new Int32Array(this.batchSize * T);
    for (let b = 0; b < this.batchSize; b++) {
      const start = this.rng.int(this.ids.length - T);
      inputs.set(this.ids.subarray(start, start + T), b * T);
      targets.set(this.ids.subarray(start + 1, start + T + 1), b * T);
    }
    const weights = new Float32Array(this.batchSize * T).fill(1);
    return { batchSize: this.batchSize, seqLen: T, inputs, targets, weights };
  }

  getState(): unknown {
    return { rng: this.rng.getState() };
  }

  setState(state: unknown): void {
    this.rng.setState((state as { rng: number[] }).rng);
  }
}
