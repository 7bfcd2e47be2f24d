// Positional encodings describe their own part of a fused decoder's spec (contract 7): a table
// added to the embeddings, or a rotation for heads of a given width.
import * as tf from '@tensorflow/tfjs-core';
import { Rng, type FusedDecodingContext } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';
import {
  LearnedPositional,
  RotaryPositional,
  SinusoidalPositional,
  sinusoidalEmbedding,
} from '@attnkit/positional';

const context: FusedDecodingContext = {
  path: 'positional',
  dModel: 6,
  maxLength: 5,
  logitScale: 1,
};

describe('fusedDecoding of positional encodings', () => {
  it('tabulates learned positions: the first maxLength rows of the weight', async () => {
    const learned = new LearnedPositional({ maxLength: 5, dim: 6 }, { rng: new Rng(2) });
    await expectNoLeaks(() => {
      const part = learned.fusedDecoding(context);
      expect(part.positionTable).toEqual(learned.weight.dataSync());
      expect(part.rotary).toBeUndefined();
    });
    learned.dispose();
  });

  it('tabulates sinusoidal positions at 0 .. maxLength - 1', async () => {
    const sinusoidal = new SinusoidalPositional({ dim: 6, base: 100 });
    const want = tf.tidy(() => sinusoidalEmbedding([0, 1, 2, 3, 4], 6, 100).dataSync());
    await expectNoLeaks(() => {
      expect(sinusoidal.fusedDecoding(context).positionTable).toEqual(want);
    });
  });

  it('describes a rotation: layout, rotated width, scaled frequencies and the head width', () => {
    const config = { headDim: 8, rotaryDim: 4, layout: 'interleaved' as const, base: 500 };
    const rotary = new RotaryPositional(config);
    const part = rotary.fusedDecoding();
    expect(part.rotaryHeadDim).toBe(8);
    expect(part.rotary).toMatchObject({ layout: 'interleaved', rotaryDim: 4 });
    expect(Array.from(part.rotary!.inverseFrequencies)).toEqual(
      rotary.inverseFrequencies.map(Math.fround),
    );
    expect(part.positionTable).toBeUndefined();
  });
});
