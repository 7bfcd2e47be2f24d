// rmt-lm-tiny (@attnkit/memory): the preset builds, trains a few steps with falling loss, and its
// decoding state carries the memory across segments (token by token == the full forward).
import { describeMemoryPreset } from './memory-preset-case';

// Pairs then queries over 23 tokens. Shrunk to dModel 16 and 8-token segments (as the recurrent
// presets' spec does), so recall crosses two segment boundaries.
describeMemoryPreset({
  preset: 'rmt-lm-tiny',
  mixer: 'recurrent-memory',
  task: { numPairs: 3, numKeys: 6, numValues: 6, totalLength: 24 },
  shrink: { segmentLength: 8, memorySlots: 4 },
  positional: { type: 'rotary', headDim: 4 },
  batch: 2,
  decodeLength: 21,
  decodeStride: 7,
  crosses: 'segment boundaries',
});
