import { build, estimateConfig } from '@attnkit/core';
import '@attnkit/attention';

// build refuses configs over the limits from these estimates, before allocating: they must be
// exactly what the mixer then allocates, in every variant.
describe('multi-head family estimates', () => {
  it.each([
    { type: 'mha', dModel: 8, numHeads: 2, bias: true },
    { type: 'mha', dModel: 8, numHeads: 2, headDim: 3, qkNorm: 'rms', sinkLogit: true },
    { type: 'gqa', dModel: 12, numHeads: 6, numKvHeads: 3, qkNorm: 'layer' },
    { type: 'gqa', dModel: 8, numHeads: 4, numKvHeads: 2, qkNorm: 'l2', bias: true },
    { type: 'mqa', dModel: 8, numHeads: 4, headDim: 5 },
    { type: 'sliding-window', dModel: 8, numHeads: 2, window: 3, numKvHeads: 1 },
    { type: 'streaming', dModel: 8, numHeads: 2, window: 3, numSinkTokens: 1, bias: true },
    { type: 'cross-attention', dModel: 8, numHeads: 4, numKvHeads: 2 },
  ])('%j', (config) => {
    const module = build(config);
    try {
      expect(estimateConfig(config)).toEqual({
        parameters: module.numParams(),
        bytes: 4 * module.numParams(),
      });
    } finally {
      module.dispose();
    }
  });

  it('refuses a huge model width before allocating', () => {
    expect(() => build({ type: 'mha', dModel: 65536, numHeads: 8 })).toThrow(
      /^mha: \$\.dModel expected at most maxParameters 536870912 .*got dModel 65536 asking for 17179869184 parameters$/,
    );
  });
});
