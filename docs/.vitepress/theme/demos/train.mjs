// The train-in-the-browser demo's computation, run in the page's worker and by
// tools/demos/precompute.mjs in Node: a small decoder trained from a fixed seed on a synthetic
// task, reporting its loss every step and its accuracy on fresh batches every few steps.
import { Rng, build } from '@attnkit/core';
import { TaskSource, Trainer, createTask } from '@attnkit/models';
import { TRAIN } from './catalog.mjs';

/** The decoder-lm config for a mixer entry of TRAIN.mixers and a task. */
export function trainConfig(mixer, task) {
  const { dModel, numLayers, hiddenDim } = TRAIN.model;
  return {
    type: 'decoder-lm',
    vocabSize: task.vocabSize,
    dModel,
    numLayers,
    maxLength: task.seqLen,
    positional: mixer.positional,
    block: {
      mixer: mixer.mixer,
      feedForward: { type: 'swiglu', hiddenDim },
      norm: { type: 'rms-norm' },
      placement: 'pre',
    },
    finalNorm: { type: 'rms-norm' },
    tieEmbeddings: true,
  };
}

/**
 * Trains `mixerId` on `taskId` for TRAIN.steps steps, yielding after every TRAIN.every steps
 * { step, losses (all so far), accuracy: [{ step, value }] }. Synchronous steps: the caller
 * (a worker) posts each report and may yield to its event loop between them.
 */
export function* trainRun(mixerId, taskId) {
  const mixer = TRAIN.mixers.find((m) => m.id === mixerId);
  const taskEntry = TRAIN.tasks.find((t) => t.id === taskId);
  if (!mixer || !taskEntry)
    throw new Error(`train demo: unknown mixer '${mixerId}' or task '${taskId}'`);
  const task = createTask(taskEntry.id, taskEntry.options);
  const rng = new Rng(TRAIN.seed);
  const model = build(trainConfig(mixer, task), { rng });
  const trainer = new Trainer(model, new TaskSource(task, TRAIN.batchSize, TRAIN.seed + 1), {
    steps: TRAIN.steps,
    lr: TRAIN.lr,
    rngs: [rng],
  });
  const held = new TaskSource(task, TRAIN.batchSize, TRAIN.seed + 2);
  const losses = [];
  const accuracy = [];
  try {
    for (let step = 1; step <= TRAIN.steps; step++) {
      losses.push(trainer.trainStep().loss);
      if (step % TRAIN.every === 0 || step === TRAIN.steps) {
        accuracy.push({ step, value: trainer.evaluate(held, TRAIN.evalBatches).accuracy });
        yield { step, losses: [...losses], accuracy: [...accuracy] };
      }
    }
  } finally {
    trainer.dispose();
    model.dispose();
  }
}
