import { ConfigError, type FusedDecoderBackend, type FusedDecoderSpec } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import { fusedDecoderSpec } from './fused-spec';

/** A backend's fused decoder of `batch` sequences, as generate() drives it. */
export interface FusedSession {
  /**
   * Feeds sequence b `inputs[b]` (none: it waits) and returns its next-token logits `[vocab]`
   * (null for a sequence fed nothing); the arrays are valid until the next call.
   */
  next(inputs: readonly (readonly number[])[]): (Float32Array | null)[];
  dispose(): void;
}

/** What the model's weights are now: the data of each parameter (replaced by assign/load). */
function weightsIdentity(model: DecoderLM): object[] {
  return [...model.namedParameters().values()].map((v) => v.dataId);
}

/**
 * The backend's fused decoder. It reads the weights' arrays in place, so when the model's
 * weights are replaced mid-stream (assign, loadStateDict) it is rebuilt from the model's
 * current weights and re-reads each sequence's tokens so far: from then on it gives what
 * rerunning the whole sequences with the new weights gives, never logits of weights the model
 * no longer has.
 */
export function fusedSession(
  model: DecoderLM,
  backend: FusedDecoderBackend,
  spec: FusedDecoderSpec,
  batch: number,
): FusedSession {
  const vocab = model.config.vocabSize;
  const logits = new Float32Array(batch * vocab);
  let decoder = backend.createFusedDecoder(spec, { batch });
  let weights = weightsIdentity(model);
  const fed: number[][] = Array.from({ length: batch }, () => []);
  return {
    next: (inputs) => {
      if (inputs.length !== batch) {
        throw new ConfigError('generate', 'inputs', `${batch} token arrays`, `${inputs.length}`);
      }
      const now = weightsIdentity(model);
      if (now.length !== weights.length || now.some((id, i) => id !== weights[i])) {
        const current = fusedDecoderSpec(model);
        if ('unsupported' in current) throw new Error(`generate: ${current.unsupported}`);
        decoder.dispose();
        decoder = backend.createFusedDecoder(current, { batch });
        weights = now;
        if (fed.some((f) => f.length > 0)) decoder.feedBatch(fed, null);
      }
      if (inputs.every((input) => input.length === 0)) return inputs.map(() => null);
      decoder.feedBatch(inputs, logits);
      inputs.forEach((input, b) => fed[b]!.push(...input));
      return inputs.map((input, b) =>
        input.length > 0 ? logits.subarray(b * vocab, (b + 1) * vocab) : null,
      );
    },
    dispose: () => decoder.dispose(),
  };
}
