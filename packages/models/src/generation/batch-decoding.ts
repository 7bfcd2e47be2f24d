import { ConfigError, checkInt, fusedDecoderBackend } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import { type DecodingMode, type DecodingOptions, openDecoding } from './decoding';
import { fusedSession } from './fused-decoding';
import { fusedDecoderSpec } from './fused-spec';

/** A running decode of several sequences: feed each its tokens, read its next-token logits. */
export interface BatchDecoding {
  readonly mode: DecodingMode;
  readonly batch: number;
  /**
   * Feeds sequence b `inputs[b]`: its new tokens (fused, cache) or its whole sequence so far
   * (full); an empty array: it waits (a finished sequence). Returns each fed sequence's
   * next-token logits `[vocab]`, null for one that waited; valid until the next call.
   */
  next(inputs: readonly (readonly number[])[]): Promise<(Float32Array | null)[]>;
  dispose(): void;
}

/**
 * Decodes `batch` sequences (prompts of any lengths) the fastest exact way here: the backend's
 * fused decoder, all sequences in one native call per step, when it runs every part of the
 * model (unless `fused: false` or `useCache: false`); otherwise each sequence through its own
 * `openDecoding` (the layers' incremental states, or rerunning it), one after the other.
 * Either way sequence b gets the logits it would get decoded alone, up to float rounding.
 */
export function openBatchDecoding(
  model: DecoderLM,
  batch: number,
  options: DecodingOptions = {},
): BatchDecoding {
  checkInt('generate', 'batch', batch, 1);
  const backend =
    options.useCache === false || options.fused === false ? undefined : fusedDecoderBackend();
  const spec = backend ? fusedDecoderSpec(model) : undefined;
  if (backend && spec && !('unsupported' in spec)) {
    const session = fusedSession(model, backend, spec, batch);
    return {
      mode: 'fused',
      batch,
      next: async (inputs) => session.next(inputs),
      dispose: () => session.dispose(),
    };
  }
  const single = { ...options, fused: false };
  const decodings = Array.from({ length: batch }, () => openDecoding(model, single));
  return {
    mode: decodings[0]!.mode,
    batch,
    next: async (inputs) => {
      if (inputs.length !== batch) {
        throw new ConfigError('generate', 'inputs', `${batch} token arrays`, `${inputs.length}`);
      }
      const out: (Float32Array | null)[] = [];
      for (const [b, input] of inputs.entries())
        out.push(input.length > 0 ? await decodings[b]!.next(input) : null);
      return out;
    },
    dispose: () => decodings.forEach((d) => d.dispose()),
  };
}
