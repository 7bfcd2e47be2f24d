// What the kill test's child writes, rebuilt by the parent to recognise what it loads back.
import { MLP, Rng } from '@attnkit/core';
import { MqarTask, TaskSource, Trainer } from '@attnkit/models';
import { tinyLm } from '../helpers';

const variants: MLP[] = [];

/**
 * Save number n is variant n % 4: MLPs whose activation alternates (same shapes, so a mixed
 * pair would load) with their own weights, 2 MB each so that most of a save is writing.
 * Built once per process; the caller must not dispose them.
 */
export function killVariant(n: number): MLP {
  const k = n % 4;
  variants[k] ??= new MLP(
    { dim: 256, hiddenDim: 1024, activation: k % 2 ? 'relu' : 'gelu' },
    { rng: new Rng(1000 + k) },
  );
  return variants[k]!;
}

/** Padding for state.json (written last), so that most of a checkpoint write is writing. */
export const killPadding = { padding: Array.from({ length: 300_000 }, (_, i) => i * 0.5) };

export const killTask = new MqarTask({ numPairs: 2, numKeys: 4, numValues: 4 });

/** The child's trainer; the parent's copy loads the checkpoints back. */
export function killTrainer() {
  const rng = new Rng(5);
  const model = tinyLm({ vocabSize: killTask.vocabSize, maxLength: 8 }, 5, rng);
  const trainer = new Trainer(model, new TaskSource(killTask, 2, 1), {
    steps: 1_000_000,
    rngs: [rng],
  });
  return { model, trainer };
}
