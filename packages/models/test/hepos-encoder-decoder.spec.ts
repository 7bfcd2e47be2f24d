import * as tf from '@tensorflow/tfjs-core';
import { Rng, build } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';
import type { EncoderDecoder } from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';
import { gqaBlock, ids } from './helpers';

// Hepos (Huang et al. 2021) is cross-attention: the decoder's heads read strided encoder states.
describeWithBlocks('hepos as the cross-attention of an encoder-decoder', () => {
  it('decodes token by token as the full decode, and reads every source position', () => {
    const model = build<EncoderDecoder>(
      {
        type: 'encoder-decoder',
        vocabSize: 11,
        dModel: 8,
        encoderLayers: 1,
        decoderLayers: 2,
        maxLength: 8,
        positional: { type: 'rotary', headDim: 4 },
        block: gqaBlock,
        crossAttention: { type: 'hepos', numHeads: 2, stride: 2 },
      },
      { rng: new Rng(7) },
    );
    const memory = model.encode(ids([[1, 2, 3, 4, 5]]));
    const tgt = [3, 1, 4, 1];
    const full = model.decode(ids([tgt]), memory);
    const state = model.initState(1);
    const steps = tgt.map((t) => model.decode(ids([[t]]), memory, { state }));
    expectClose(tf.concat(steps, 1), full, { atol: 1e-5 });
    // The last source token is read by one head only, and still reaches the output.
    const other = model.decode(ids([tgt]), model.encode(ids([[1, 2, 3, 4, 9]])));
    expect(tf.max(tf.abs(tf.sub(other, full))).dataSync()[0]).toBeGreaterThan(1e-6);
    state.dispose();
    model.dispose();
  });
});
