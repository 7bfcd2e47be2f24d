import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@attnkit/core';
import { AuxLosses, checkInt, checkNumber, checkOneOf } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import { AdamW } from './adamw';
import { clipScale, globalNorm } from './clip';
import type { BatchSource } from './data';
import type { TrainableModel } from './objective';
import { batchAccuracy, batchLoss, batchTokens } from './objective';
import { cosineSchedule, wsdSchedule } from './schedule';

export interface TrainerOptions {
  /** Total optimizer steps (the schedule's length). */
  steps: number;
  lr?: number;
  warmupSteps?: number;
  minLr?: number;
  weightDecay?: number;
  beta2?: number;
  /** Max global gradient norm (Infinity = no clipping); default 1. */
  clipNorm?: number;
  /** Micro-batches summed into each step; default 1. */
  accumulation?: number;
  /** Generators whose state must survive a resume (dropout, init); saved in checkpoints. */
  rngs?: Rng[];
  /** `cosine` (default) or `wsd`: warmup, constant, linear decay over the last 20%. */
  schedule?: 'cosine' | 'wsd';
}

export interface StepMetrics {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  aux: Record<string, number>;
  tokens: number;
}

export interface EvalMetrics {
  loss: number;
  accuracy: number;
}

export { batchTensors, imageBatchTensors } from './objective';
export type { TrainableModel } from './objective';

/**
 * Trains a decoder LM by next-token cross-entropy (weighted to answer positions for tasks), or a
 * ViT by cross-entropy on its class logits (image batches), plus the mixers' aux losses, with
 * AdamW, warmup + cosine, global-norm clipping and accumulation.
 */
export class Trainer<M extends TrainableModel = DecoderLM> {
  readonly optimizer: AdamW;
  readonly schedule: (step: number) => number;
  readonly options: Required<Omit<TrainerOptions, 'rngs'>> & { rngs: Rng[] };
  private readonly params: Map<string, tf.Variable>;

  constructor(
    readonly model: M,
    readonly source: BatchSource,
    options: TrainerOptions,
  ) {
    const steps = checkInt('Trainer', 'steps', options.steps, 1);
    const lr = checkNumber('Trainer', 'lr', options.lr ?? 3e-3, { min: 0, minExclusive: true });
    this.options = {
      steps,
      lr,
      warmupSteps: options.warmupSteps ?? Math.min(100, Math.floor(steps / 10)),
      minLr: options.minLr ?? lr / 10,
      weightDecay: options.weightDecay ?? 0.1,
      beta2: options.beta2 ?? 0.95,
      clipNorm: options.clipNorm ?? 1,
      accumulation: checkInt('Trainer', 'accumulation', options.accumulation ?? 1, 1),
      rngs: options.rngs ?? [],
      schedule: checkOneOf('Trainer', 'schedule', options.schedule ?? 'cosine', ['cosine', 'wsd']),
    };
    this.params = new Map([...model.namedParameters()].filter(([, v]) => v.trainable));
    this.optimizer = new AdamW(this.params, {
      weightDecay: this.options.weightDecay,
      beta2: this.options.beta2,
    });
    const shape = {
      peakLr: lr,
      totalSteps: steps,
      warmupSteps: this.options.warmupSteps,
      minLr: this.options.minLr,
    };
    this.schedule = this.options.schedule === 'wsd' ? wsdSchedule(shape) : cosineSchedule(shape);
  }

  get step(): number {
    return this.optimizer.stepCount;
  }

  /** One optimizer step over `accumulation` micro-batches. */
  trainStep(): StepMetrics {
    const paths = [...this.params.keys()];
    const vars = [...this.params.values()];
    const byName = new Map(paths.map((p, i) => [vars[i]!.name, p]));
    let summed: Map<string, tf.Tensor> | undefined;
    let lossSum = 0;
    let tokens = 0;
    const aux: Record<string, number> = {};
    const k = this.options.accumulation;
    for (let micro = 0; micro < k; micro++) {
      const batch = this.source.next();
      tokens += batchTokens(this.model, batch);
      // Mixers keep (tf.keep) the aux losses they add, so the collector frees them after the step.
      const collector = new AuxLosses();
      const { value, grads } = tf.variableGrads(() => {
        let { loss } = batchLoss(this.model, batch, { training: true, aux: collector });
        if (collector.size > 0) {
          for (const [name, v] of Object.entries(collector.values()))
            aux[name] = (aux[name] ?? 0) + v / k;
          loss = tf.add(loss, collector.total());
        }
        return loss;
      }, vars);
      collector.dispose();
      lossSum += value.dataSync()[0]!;
      value.dispose();
      if (!summed) {
        summed = new Map(Object.entries(grads).map(([name, g]) => [byName.get(name)!, g]));
      } else {
        for (const [name, g] of Object.entries(grads)) {
          const path = byName.get(name)!;
          const prev = summed.get(path)!;
          summed.set(path, tf.add(prev, g));
          prev.dispose();
          g.dispose();
        }
      }
    }
    if (k > 1) {
      for (const [path, g] of summed!) {
        summed!.set(path, tf.div(g, k));
        g.dispose();
      }
    }
    // The clip's factor goes to AdamW, which scales each gradient as it reads it.
    const norm = globalNorm(summed!.values());
    const lr = this.schedule(this.step + 1);
    this.optimizer.step(summed!, lr, { gradScale: clipScale(norm, this.options.clipNorm) });
    tf.dispose([...summed!.values()]);
    return { step: this.step, loss: lossSum / k, lr, gradNorm: norm, aux, tokens };
  }

  /** Mean loss and accuracy (answer positions, or images) over `batches` batches, in eval mode. */
  evaluate(source: BatchSource, batches: number): EvalMetrics {
    const wasTraining = this.model.training;
    this.model.eval();
    let loss = 0;
    let accuracy = 0;
    try {
      for (let i = 0; i < batches; i++) {
        const batch = source.next();
        const [l, predicted] = tf.tidy(() => {
          const { logits, loss } = batchLoss(this.model, batch, { training: false });
          return [loss.dataSync()[0]!, tf.argMax(logits, -1).dataSync()] as const;
        });
        loss += l / batches;
        accuracy += batchAccuracy(predicted, batch) / batches;
      }
    } finally {
      this.model.train(wasTraining);
    }
    return { loss, accuracy };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
