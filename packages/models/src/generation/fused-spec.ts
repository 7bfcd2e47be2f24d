import type { FusedDecoderSpec } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';

/**
 * Describes `model` for a backend's fused decoder (core's FusedDecoderSpec, weights read in
 * place), or says which part it cannot run: a mixer other than softmax self-attention (or with
 * qkNorm, softcap or a sink logit), a norm other than rms/layer, a feed-forward other than
 * mlp/glu, sandwich or parallel blocks, or a positional encoding that biases logits. Each
 * module describes its own part (`fusedDecoding`); a module without one is refused.
 */
export function fusedDecoderSpec(model: DecoderLM): FusedDecoderSpec | { unsupported: string } {
  const spec = model.fusedDecoding();
  return typeof spec === 'string' ? { unsupported: spec } : spec;
}
