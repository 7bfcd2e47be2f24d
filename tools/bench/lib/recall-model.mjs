// The recall study's model: a 2-layer decoder around one mixer, with the recipe of `attnkit
// train`. Shared by recall.mjs (which trains it) and profile.mjs --mixer (which times its step).
import * as tf from '@tensorflow/tfjs-core';
import { mixerFor } from './recall-mixers.mjs';

// Task sizes: MQAR at the given vocabulary with `pairs` key-value pairs (default T/16: 4/8/16
// for 64/128/256 tokens, the grid); selective copying with as many data tokens among
// noise; induction heads over a 32-symbol alphabet (`--symbols`).
export function taskFor(
  name,
  length,
  vocab = 256,
  pairs = Math.max(1, Math.round(length / 16)),
  symbols = 32,
) {
  const numKeys = Math.floor((vocab - 1) / 2);
  switch (name) {
    case 'mqar':
      return { numPairs: pairs, numKeys, numValues: vocab - 1 - numKeys, totalLength: length };
    case 'selective-copy':
      return { numTokens: pairs, regionLength: length - pairs, numSymbols: 16 };
    case 'induction':
      return { length, numSymbols: symbols };
    default:
      throw new Error(`recall: unknown task ${name}`);
  }
}

/** The decoder-lm config for `mixerType` at `dModel` on `task` (a models.createTask result). */
export function recallModelConfig(core, mixerType, dModel, task) {
  const mixer = mixerFor(mixerType, dModel);
  const probe = core.build({ ...mixer, dModel }, { rng: new core.Rng(0) });
  const rotary = probe.capabilities?.positional?.includes('rotate');
  probe.dispose();
  return {
    type: 'decoder-lm',
    vocabSize: task.vocabSize,
    dModel,
    numLayers: 2,
    maxLength: task.seqLen,
    positional: rotary ? { type: 'rotary', headDim: 16 } : { type: 'nope' },
    block: {
      mixer,
      feedForward: { type: 'swiglu', hiddenDim: 2 * dModel },
      norm: { type: 'rms-norm' },
      placement: 'pre',
    },
    finalNorm: { type: 'rms-norm' },
    tieEmbeddings: true,
    // PyTorch's Linear init, as `attnkit train` (models' TRAIN_DEFAULTS): it shortens the recall
    // plateau the most.
    linearInit: { name: 'kaiming-uniform', gain: Math.sqrt(1 / 3) },
  };
}

/**
 * The built model with token embeddings drawn N(0, embedStd²): at the library's default 0.02 a
 * model this small sits on the recall plateau for thousands of steps (issue 20), and at 1 the
 * tied logits start with std ~8; 0.125 (1/sqrt(64)) let mha solve MQAR with 16 pairs of 16 keys
 * at T 64 in 1,000 steps (1.00, against 0.21 at std 1; bench-results/recall-calib-v33.json).
 * Every mixer gets the same.
 */
export function buildRecallModel(core, config, embedStd) {
  const model = core.build(config, { rng: new core.Rng(1) });
  const rng = new core.Rng(3);
  for (const [name, variable] of model.namedParameters()) {
    if (name !== 'embed.weight') continue;
    const values = Float32Array.from({ length: variable.size }, () => embedStd * rng.normal());
    const init = tf.tensor(values, variable.shape);
    variable.assign(init);
    init.dispose();
  }
  return model;
}

/** The Trainer options of the study: no weight decay, constant rate until the last 20% (wsd). */
export const recallTrainOptions = (steps, lr) => ({
  steps,
  lr,
  weightDecay: 0,
  schedule: 'wsd',
  warmupSteps: 100,
});
