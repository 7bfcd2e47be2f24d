// Specs that build real models need blocks registered by @attnkit/core, positional and
// attention. A missing one fails every such spec (it used to skip them with a warning).
import { isRegistered } from '@attnkit/core';
import '@attnkit/models';

export const NEEDED = ['embedding', 'linear', 'rms-norm', 'swiglu', 'gqa', 'rotary'];
export const missingBlocks = NEEDED.filter((t) => !isRegistered(t));

if (missingBlocks.length > 0) {
  throw new Error(`model specs need these blocks registered: ${missingBlocks.join(', ')}`);
}

export const describeWithBlocks: jest.Describe = describe;
