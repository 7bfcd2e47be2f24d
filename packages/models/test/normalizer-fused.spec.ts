// The fused decoder computes softmax attention only: a mixer with another normaliser stays on tfjs.
import { Rng, build } from '@attnkit/core';
import { type DecoderLM, fusedDecoderSpec } from '@attnkit/models';

describe('fusedDecoderSpec with a normaliser other than softmax', () => {
  it('names the mixer and its normaliser instead of describing it', () => {
    const model = (normalizer: string) =>
      build<DecoderLM>(
        {
          type: 'decoder-lm',
          vocabSize: 16,
          dModel: 8,
          numLayers: 2,
          maxLength: 8,
          positional: { type: 'learned' },
          block: {
            mixer: { type: 'mha', numHeads: 2 },
            feedForward: { type: 'mlp', hiddenDim: 16 },
          },
          layerOverrides: { 1: { mixer: { type: 'mha', numHeads: 2, normalizer } } },
        },
        { rng: new Rng(1) },
      );
    const sparse = model('sparsemax');
    expect(fusedDecoderSpec(sparse)).toEqual({
      unsupported: "layers[1].mixer normalizes with 'sparsemax', not softmax",
    });
    const soft = model('softmax');
    expect(fusedDecoderSpec(soft)).not.toHaveProperty('unsupported');
    sparse.dispose();
    soft.dispose();
  });
});
