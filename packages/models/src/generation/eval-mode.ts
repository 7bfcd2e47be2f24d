import type { DecoderLM } from '../assemblies/decoder-lm';

/** Generations running on each model, and its training flag from before the first began. */
const running = new WeakMap<DecoderLM, { count: number; wasTraining: boolean }>();

/** Puts `model` in eval mode for a generation; the last one to end restores the flag. */
export function enterEval(model: DecoderLM): () => void {
  const entry = running.get(model) ?? { count: 0, wasTraining: model.training };
  entry.count++;
  running.set(model, entry);
  model.eval();
  return () => {
    if (--entry.count > 0) return;
    running.delete(model);
    if (!model.isDisposed) model.train(entry.wasTraining);
  };
}
