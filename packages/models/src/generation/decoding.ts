import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, type FusedDecoderBackend, fusedDecoderBackend } from '@attnkit/core';
import type { FusedDecoderSpec } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import type { StackState } from '../assemblies/decoder-state';
import { fusedDecoderSpec } from './fused-spec';
import { fusedSession } from './fused-decoding';

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

/** The fused decoder of one sequence (see fusedSession). */
function fused(model: DecoderLM, backend: FusedDecoderBackend, spec: FusedDecoderSpec): Decoding {
  const session = fusedSession(model, backend, spec, 1);
  return {
    mode: 'fused',
    next: async (input) => {
      if (input.length === 0) throw new ConfigError('generate', 'input', 'a token', 'none');
      return session.next([input])[0]!;
    },
    dispose: () => session.dispose(),
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
