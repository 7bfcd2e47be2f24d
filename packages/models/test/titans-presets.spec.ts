// titans-mac-tiny, titans-mag-tiny, titans-mal-tiny (@attnkit/memory): each preset builds and runs,
// a shrunk copy trains a few steps with falling loss, and decoding token by token (the memory's
// weights as the state) equals the full forward.
import { describeMemoryPreset } from './memory-preset-case';

// Shrunk to dModel 16, 4-token chunks and windows, so training crosses chunk boundaries quickly;
// each step trains on the same batch.
for (const kind of ['mac', 'mag', 'mal']) {
  describeMemoryPreset({
    preset: `titans-${kind}-tiny`,
    mixer: `titans-${kind}`,
    task: { numPairs: 2, numKeys: 4, numValues: 4, totalLength: 12 },
    shrink: {
      numHeads: 2,
      chunkSize: 4,
      persistentTokens: 2,
      ...(kind === 'mac' ? {} : { window: 4 }),
    },
    // MAC has no positions (its preset's 'nope'); MAG and MAL rotate their attention's q and k.
    positional: kind === 'mac' ? undefined : { type: 'rotary', headDim: 8 },
    batch: 4,
    sameBatch: true,
    decodeLength: 11,
    decodeStride: 5,
    crosses: 'chunk boundaries',
  });
}
