import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build, loadModule, saveModule } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import type { EncoderDecoder, EncoderDecoderConfig } from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';
import { expectGradientToEveryParameter } from './gradients';
import { gqaBlock, ids } from './helpers';

const config = (extra: Partial<EncoderDecoderConfig> = {}): EncoderDecoderConfig => ({
  type: 'encoder-decoder',
  vocabSize: 11,
  dModel: 8,
  encoderLayers: 2,
  decoderLayers: 2,
  maxLength: 8,
  positional: { type: 'rotary', headDim: 4 },
  block: gqaBlock,
  ...extra,
});
const make = (extra: Partial<EncoderDecoderConfig> = {}) =>
  build<EncoderDecoder>(config(extra), { rng: new Rng(7) });
const slice = (t: tf.Tensor, begin: number[], size: number[]) =>
  Array.from(tf.slice(t, begin, size).dataSync());

describeWithBlocks('EncoderDecoder', () => {
  it('decodes causally while reading the whole source', () => {
    const model = make();
    const src = ids([[1, 2, 3, 4]]);
    const logits = model.forward(src, ids([[5, 6, 7]]));
    expect(logits.shape).toEqual([1, 3, 11]);
    // a later target token leaves earlier positions alone
    const other = model.forward(src, ids([[5, 6, 9]]));
    expect(slice(other, [0, 0, 0], [1, 2, 11])).toEqual(slice(logits, [0, 0, 0], [1, 2, 11]));
    // the last source token reaches the first target position (encoder is bidirectional)
    const changed = model.forward(ids([[1, 2, 3, 9]]), ids([[5, 6, 7]]));
    expect(slice(changed, [0, 0, 0], [1, 1, 11])).not.toEqual(slice(logits, [0, 0, 0], [1, 1, 11]));
    model.dispose();
  });

  it('decoding token by token with the state equals the full decode', () => {
    const model = make();
    const memory = model.encode(ids([[1, 2, 3, 4, 5]]));
    const tgt = [3, 1, 4, 1, 5, 9];
    const full = model.decode(ids([tgt]), memory);
    const state = model.initState(1);
    const steps = tgt.map((t) => model.decode(ids([[t]]), memory, { state }));
    expect(state.length).toBe(6);
    expectClose(tf.concat(steps, 1), full, { atol: 1e-5 });
    state.dispose();
    model.dispose();
  });

  it('ignores source padding through the encoder and the cross-attention', () => {
    const model = make();
    const srcMask = tf.tensor2d([
      [1, 1, 1, 0, 0],
      [1, 1, 1, 1, 1],
    ]);
    const padded = model.forward(
      ids([
        [1, 2, 3, 0, 0],
        [4, 5, 6, 7, 8],
      ]),
      ids([
        [9, 8],
        [7, 6],
      ]),
      { srcMask },
    );
    const short = model.forward(ids([[1, 2, 3]]), ids([[9, 8]]));
    expectClose(tf.slice(padded, [0, 0, 0], [1, 2, 11]), short, { atol: 1e-5 });
    model.dispose();
  });

  it('sends a gradient to every parameter and leaks nothing', async () => {
    const src = ids([[1, 2, 3]]);
    const tgt = ids([[4, 5]]);
    await expectNoLeaks(() => {
      const model = make({ tieEmbeddings: false, positional: { type: 'learned' } });
      expectGradientToEveryParameter(
        model,
        () => tf.sum(tf.square(model.forward(src, tgt))) as tf.Scalar,
      );
      model.dispose();
    });
    tf.dispose([src, tgt]);
  });

  it('rejects bad inputs and configs, naming the argument or JSON path', () => {
    const model = make();
    const memory = model.encode(ids([[1, 2]]));
    expect(() => model.decode(ids([[1], [2]]), memory)).toThrow(/memory.*\[2,srcTime,8\]/);
    expect(() => model.encode(ids([[1, 2, 3, 4, 5, 6, 7, 8, 9]]))).toThrow(/src.*maxLength=8/);
    expect(() =>
      model.decode(ids([[1]]), memory, { memoryMask: tf.tensor2d([[1, 1, 1]]) }),
    ).toThrow(/memoryMask/);
    model.dispose();
  });

  it('rejects bad configs, leaking nothing it built before the bad part', async () => {
    await expectNoLeaks(() => {
      expect(() => make({ decoderOverrides: { 3: {} } })).toThrow(/\$\.decoderOverrides\.3/);
      // the encoder is built by the time the decoder's cross-attention fails
      expect(() => make({ crossAttention: { type: 'cross-attention', numHeads: 3 } })).toThrow(
        /numHeads/,
      );
      expect(() => make({ encoderLayers: 0 })).toThrow(/\$\.encoderLayers/);
    });
  });

  it('saves and loads through saveModule/loadModule with identical outputs', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-seq2seq-'));
    const model = make({ tieEmbeddings: false });
    await saveModule(dir, model);
    const back = await loadModule<EncoderDecoder>(dir);
    const src = ids([[1, 2, 3]]);
    const tgt = ids([[4, 5]]);
    expectClose(back.forward(src, tgt), model.forward(src, tgt), { atol: 0 });
    model.dispose();
    back.dispose();
  });
});
