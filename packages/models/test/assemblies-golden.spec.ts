import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, build } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';
import type { Encoder, EncoderDecoder, ViT } from '@attnkit/models';
import golden from './fixtures/assemblies.json';
import { describeWithBlocks } from './blocks-ready';

type Case = {
  config: unknown;
  params: Record<string, unknown>;
  inputs: Record<string, number[][] | number[][][][]>;
  expected: unknown;
};
const cases = golden as unknown as Record<string, Case>;

/** Builds a case's model and loads the reference weights (strict: every name must match). */
function load<M extends Module>(c: Case): M {
  const model = build<M>(c.config, { rng: new Rng(0) });
  const weights = Object.fromEntries(
    Object.entries(c.params).map(([name, v]) => [name, tf.tensor(v as number[])]),
  );
  model.loadStateDict(weights);
  tf.dispose(Object.values(weights));
  return model;
}

const int2d = (v: unknown) => tf.tensor2d(v as number[][], undefined, 'int32');

// PyTorch reference: tools/reference/models/assemblies.py
describeWithBlocks('assemblies against PyTorch', () => {
  it.each(['encoder-mean', 'encoder-latent'])('%s: logits of a padded batch', (name) => {
    const c = cases[name]!;
    const model = load<Encoder>(c);
    const logits = model.forward(int2d(c.inputs.ids), {
      mask: tf.tensor2d(c.inputs.mask as number[][]),
    });
    expectClose(logits, c.expected as number[][], { atol: 1e-4 });
    model.dispose();
  });

  it('vit: patches, 2-D sin-cos positions, class token, head', () => {
    const c = cases.vit!;
    const model = load<ViT>(c);
    expectClose(
      model.forward(tf.tensor4d(c.inputs.images as number[][][][])),
      c.expected as number[][],
      {
        atol: 1e-4,
      },
    );
    model.dispose();
  });

  it('encoder-decoder: causal decoder cross-attending to a padded source', () => {
    const c = cases['encoder-decoder']!;
    const model = load<EncoderDecoder>(c);
    const logits = model.forward(int2d(c.inputs.src), int2d(c.inputs.tgt), {
      srcMask: tf.tensor2d(c.inputs.srcMask as number[][]),
    });
    expectClose(logits, c.expected as number[][][], { atol: 1e-4 });
    model.dispose();
  });
});
