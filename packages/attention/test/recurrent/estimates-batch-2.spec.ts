import { build, estimateConfig } from '@attnkit/core';
import '@attnkit/attention';

// What build checks before allocating must be what these mixers then allocate, in every variant.
describe('softmax-rnn, mega, bi-mamba and adaptive-filter-attention estimates', () => {
  it.each([
    { type: 'softmax-rnn', dModel: 8, numHeads: 2, order: 3, bias: true },
    { type: 'softmax-rnn', dModel: 8, numHeads: 4, numKvHeads: 2, headDim: 3 },
    { type: 'mega', dModel: 8 },
    { type: 'mega', dModel: 12, zDim: 5, vDim: 7, emaDim: 3, attention: 'laplace', chunkSize: 2 },
    { type: 'bi-mamba', dModel: 8, bias: true, convBias: false, dState: 3, dtRank: 2 },
    { type: 'bi-mamba', dModel: 6, expand: 3, dConv: 2 },
    { type: 'adaptive-filter-attention', dModel: 8, numHeads: 2, bias: true },
    { type: 'adaptive-filter-attention', dModel: 8, numHeads: 3, headDim: 6 },
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
});
