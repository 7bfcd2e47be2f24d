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

/** What the weights are now: the data of each parameter (replaced by assign/load). */
function weightsIdentity(parameters: readonly { dataId: object }[]): object[] {
  return parameters.map((v) => v.dataId);
}

/** Whether any parameter's data changed since `before` (a check per token: no allocation). */
function weightsChanged(parameters: readonly { dataId: object }[], before: object[]): boolean {
  for (let i = 0; i < parameters.length; i++) if (parameters[i]!.dataId !== before[i]) return true;
  return false;
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
  // A module's variables are fixed when it is built (assign and loadStateDict replace their
  // data, not the variables), so the list is read once; walking the module tree for it on
  // every token cost as much as the token.
  const parameters = model.parameters();
  let weights = weightsIdentity(parameters);
  const fed: number[][] = Array.from({ length: batch }, () => []);
  return {
    next: (inputs) => {
      if (inputs.length !== batch) {
        throw new ConfigError('generate', 'inputs', `${batch} token arrays`, `${inputs.length}`);
      }
      if (weightsChanged(parameters, weights)) {
        const current = fusedDecoderSpec(model);
        if ('unsupported' in current) throw new Error(`generate: ${current.unsupported}`);
        decoder.dispose();
        decoder = backend.createFusedDecoder(current, { batch });
        weights = weightsIdentity(parameters);
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
