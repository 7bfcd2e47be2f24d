// knn-lm-tiny (@attnkit/memory): the preset builds, trains a few steps with falling loss, and its
// decoding state carries the kNN memory across segments (token by token == the full forward).
import { describeMemoryPreset } from './memory-preset-case';

// Shrunk to dModel 16, 6-token segments and 8 memories per head, so 23 tokens cross three segment
// ends and evict from the memory.
describeMemoryPreset({
  preset: 'knn-lm-tiny',
  mixer: 'knn-memory',
  task: { numPairs: 3, numKeys: 6, numValues: 6, totalLength: 24 },
  shrink: { segmentLength: 6, topK: 4, capacity: 8 },
  positional: { type: 'rotary', headDim: 4 },
  batch: 2,
  decodeLength: 23,
  decodeStride: 7,
  crosses: 'segment ends and evictions',
});
