import * as tf from '@tensorflow/tfjs-core';
import { type FusedDecoderBackend, fusedDecoderBackend } from '@attnkit/core';
import type { FusedDecoderSpec } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import type { StackState } from '../assemblies/decoder-state';
import { fusedDecoderSpec } from './fused-spec';

/** How `generate` turns tokens into next-token logits. */
export type DecodingMode = 'fused' | 'cache' | 'full';

/** A running decode: feed tokens, read the logits after the last one. */
export interface Decoding {
  readonly mode: DecodingMode;
  /**
   * Next-token logits `[vocab]` after `input`: the new tokens only (fused, cache), or the
   * whole sequence so far (full).
   */
  next(input: readonly number[]): Promise<Float32Array>;
  dispose(): void;
}

export interface DecodingOptions {
  useCache?: boolean;
  fused?: boolean;
}

/**
 * Whether generate() on the active backend runs `model` through the backend's fused decoder,
 * and if not, why (no such backend, or the part of the model it cannot run).
 */
export function fusedDecodingSupport(model: DecoderLM): { supported: boolean; reason?: string } {
  if (!fusedDecoderBackend()) {
    return { supported: false, reason: `backend '${tf.getBackend()}' has no fused decoder` };
  }
  const spec = fusedDecoderSpec(model);
  return 'unsupported' in spec
    ? { supported: false, reason: spec.unsupported }
    : { supported: true };
}

/** What the model's weights are now: the data of each parameter (replaced by assign/load). */
function weightsIdentity(model: DecoderLM): object[] {
  return [...model.namedParameters().values()].map((v) => v.dataId);
}

/**
 * The backend's fused decoder. It reads the weights' arrays in place, so when the model's
 * weights are replaced mid-stream (assign, loadStateDict) it is rebuilt from the model's
 * current weights and re-reads the tokens so far: from then on it gives what rerunning the
 * whole sequence with the new weights gives, never logits of weights the model no longer has.
 */
function fused(model: DecoderLM, backend: FusedDecoderBackend, spec: FusedDecoderSpec): Decoding {
  const logits = new Float32Array(model.config.vocabSize);
  let decoder = backend.createFusedDecoder(spec);
  let weights = weightsIdentity(model);
  const fed: number[] = [];
  return {
    mode: 'fused',
    next: async (input) => {
      const now = weightsIdentity(model);
      if (now.length !== weights.length || now.some((id, i) => id !== weights[i])) {
        const current = fusedDecoderSpec(model);
        if ('unsupported' in current) throw new Error(`generate: ${current.unsupported}`);
        decoder.dispose();
        decoder = backend.createFusedDecoder(current);
        weights = now;
        if (fed.length > 0) decoder.feed(fed, null);
      }
      decoder.feed(input, logits);
      fed.push(...input);
      return logits;
    },
    dispose: () => decoder.dispose(),
  };
}

function tfjs(model: DecoderLM, state: StackState | undefined): Decoding {
  const vocab = model.config.vocabSize;
  return {
    mode: state ? 'cache' : 'full',
    next: async (input) => {
      const last = tf.tidy(() => {
        const ids = tf.tensor2d(input as number[], [1, input.length], 'int32');
        const logits = model.forward(ids, { state, training: false });
        return tf.reshape(tf.slice(logits, [0, input.length - 1, 0], [1, 1, vocab]), [vocab]);
      });
      const values = (await last.data()) as Float32Array;
      last.dispose();
      return values;
    },
    dispose: () => state?.dispose(),
  };
}

/**
 * The fastest exact way to decode `model` here: the backend's fused decoder when it has one and
 * runs every part of the model (unless `fused: false`), else each layer's incremental state
 * (unless `useCache: false` or a layer has none), else rerunning the whole sequence.
 */
export function openDecoding(model: DecoderLM, options: DecodingOptions = {}): Decoding {
  if (options.useCache === false) return tfjs(model, undefined);
  const backend = options.fused === false ? undefined : fusedDecoderBackend();
  if (backend) {
    const spec = fusedDecoderSpec(model);
    if (!('unsupported' in spec)) {
      return fused(model, backend, spec);
    }
  }
  const state = model.initState(1);
  if (state.layers.some((s) => s === undefined)) {
    state.dispose();
    return tfjs(model, undefined);
  }
  return tfjs(model, state);
}
