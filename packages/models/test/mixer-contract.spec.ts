// The mixer contract from @attnkit/core/testing over every registered mixer, enumerated from the
// registry, so a new mixer is covered without editing this spec.
import { registeredTypes } from '@attnkit/core';
import { mixerContract } from '@attnkit/core/testing';
import '@attnkit/attention';
import '@attnkit/routing';
import '@attnkit/models';

const EXAMPLES: Record<string, Record<string, unknown>> = {
  mha: { numHeads: 2 },
  gqa: { numHeads: 4, numKvHeads: 2 },
  mqa: { numHeads: 2 },
  'sliding-window': { numHeads: 2, window: 3 },
  streaming: { numHeads: 2, window: 3, numSinkTokens: 1 },
  'cross-attention': { numHeads: 2 },
  selective: { numHeads: 2 },
  'multi-token': { numHeads: 2, queryKernel: 2, keyKernel: 3 },
  gaam: { numHeads: 2 },
  'talking-heads': { numHeads: 2 },
  differential: { numHeads: 2 },
  moh: { numHeads: 4, numSharedHeads: 2, topK: 1 },
  moa: { numHeads: 4, topK: 2 },
  mosa: { numHeads: 2, sparsity: 2 },
};

describe.each(registeredTypes('mixer'))('mixer contract: %s', (type) => {
  const example = EXAMPLES[type];
  it('has an example config', () => expect(example).toBeDefined());
  if (!example) return;
  for (const check of mixerContract({ type, dModel: 8, ...example })) {
    it(check.name, async () => {
      await check.run();
    });
  }
});
