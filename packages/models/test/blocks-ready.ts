// Specs that build real models need blocks registered by @attnkit/core, positional and
// attention. While those packages are still being written, such specs are skipped (and say so).
import { isRegistered } from '@attnkit/core';
import '@attnkit/models';

export const NEEDED = ['embedding', 'linear', 'rms-norm', 'swiglu', 'gqa', 'rotary'];
export const missingBlocks = NEEDED.filter((t) => !isRegistered(t));

export const describeWithBlocks: jest.Describe = (
  missingBlocks.length === 0 ? describe : describe.skip
) as jest.Describe;

if (missingBlocks.length > 0) {
  console.warn(`skipping model specs: blocks not registered yet: ${missingBlocks.join(', ')}`);
}
