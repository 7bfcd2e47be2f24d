// Inputs larger than a layer was made for (a deep model's residual stream, an unscaled embedding):
// the clip of the inner gradient keeps every memory model bounded at every chunk size. Without it
// the deep and gated memories diverge (their curvature grows with their weights).
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build } from '@attnkit/core';
import type { NeuralMemory } from '../../src';
import '../../src';

const SCALES = [1, 3, 10];
const [T, D, BLOCK] = [256, 8, 16];

/** Per batch row (input scale) the largest output RMS of a 16-token block, over T tokens. */
function blockRms(config: Record<string, unknown>): number[][] {
  const m = build<NeuralMemory>(
    { type: 'neural-memory', dModel: D, numHeads: 2, ...config } as { type: 'neural-memory' },
    { rng: new Rng(5) },
  );
  try {
    return tf.tidy(() => {
      // One batch row per scale (rows are independent): N(0, s²) inputs.
      const scale = tf.tensor3d(SCALES, [SCALES.length, 1, 1]);
      const x = tf.mul(tf.randomNormal([SCALES.length, T, D], 0, 1, 'float32', 7), scale);
      const y = m.forward(x as tf.Tensor3D);
      const rms = tf.sqrt(tf.mean(tf.square(tf.reshape(y, [SCALES.length, T / BLOCK, -1])), -1));
      return rms.arraySync() as number[][];
    });
  } finally {
    m.dispose();
  }
}

/** True when every block is finite with an output RMS at most 4× its input's. */
const bounded = (rms: number[][]) =>
  rms.every((row, i) => row.every((r) => Number.isFinite(r) && r <= 4 * SCALES[i]!));

describe('neural memory on inputs scaled ×1, ×3, ×10 over 256 tokens', () => {
  const cases = ['linear', 'mlp', 'swiglu'].flatMap((memoryModel) =>
    [1, 2, 8].map((chunkSize) => [memoryModel, chunkSize] as const),
  );
  it.each(cases)('%s memory, chunk %i: finite, block RMS <= 4× the input’s', (kind, chunk) => {
    for (const forgetGate of [true, false]) {
      const rms = blockRms({ memoryModel: kind, chunkSize: chunk, forgetGate });
      expect({ forgetGate, bounded: bounded(rms) }).toEqual({ forgetGate, bounded: true });
    }
  });

  it('without the clip the MLP memory diverges on the same inputs (what the clip prevents)', () => {
    const rms = blockRms({ memoryModel: 'mlp', chunkSize: 2, gradientClip: 1e9 });
    expect(bounded(rms)).toBe(false);
  });
});
