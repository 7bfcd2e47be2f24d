// knn-lm-tiny (@attnkit/memory): the preset builds, trains a few steps with falling loss, and its
// decoding state carries the kNN memory across segments (token by token == the full forward).
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';
import '@attnkit/memory';
import { type DecoderLM, MqarTask, TaskSource, Trainer, getPreset } from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';

describeWithBlocks('knn-lm-tiny', () => {
  // The spec shrinks the preset to dModel 16, 6-token segments and 8 memories per head, so 23
  // tokens cross three segment ends and evict from the memory.
  const task = new MqarTask({ numPairs: 3, numKeys: 6, numValues: 6, totalLength: 24 });
  const preset = () => {
    const p = getPreset('knn-lm-tiny') as unknown as { block: { mixer: object } };
    const mixer = { ...p.block.mixer, segmentLength: 6, topK: 4, capacity: 8 };
    return {
      ...p,
      vocabSize: task.vocabSize,
      dModel: 16,
      positional: { type: 'rotary', headDim: 4 },
      block: { ...p.block, mixer, feedForward: { type: 'swiglu', hiddenDim: 32 } },
    };
  };

  it('is a 2-layer decoder-lm of dModel 64 with knn-memory mixers that builds and runs', () => {
    const p = getPreset('knn-lm-tiny') as unknown as {
      dModel: number;
      numLayers: number;
      block: { mixer: { type: string } };
    };
    expect([p.dModel, p.numLayers, p.block.mixer.type]).toEqual([64, 2, 'knn-memory']);
    const model = build<DecoderLM>(p, { rng: new Rng(2) });
    tf.tidy(() => {
      const ids = tf.zeros([1, 20], 'int32') as tf.Tensor2D;
      expect(model.forward(ids).shape).toEqual([1, 20, 65]);
    });
    model.dispose();
  });

  it('trains: the loss falls over 6 steps', () => {
    const rng = new Rng(0);
    const model = build<DecoderLM>(preset(), { rng });
    const trainer = new Trainer(model, new TaskSource(task, 2, 1), {
      steps: 8,
      lr: 3e-3,
      rngs: [rng],
    });
    const losses = Array.from({ length: 6 }, () => trainer.trainStep().loss);
    trainer.dispose();
    model.dispose();
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(Math.min(...losses.slice(-3))).toBeLessThan(losses[0]!);
  });

  it('decoding token by token equals the full forward across segment ends and evictions', () => {
    const model = build<DecoderLM>(preset(), { rng: new Rng(1) });
    tf.tidy(() => {
      const ids = tf.tensor2d(
        [Array.from({ length: 23 }, (_, i) => (i * 7) % task.vocabSize)],
        [1, 23],
        'int32',
      );
      const full = model.forward(ids);
      const state = model.initState(1);
      const steps = tf.split(ids, 23, 1).map((t) => model.forward(t as tf.Tensor2D, { state }));
      state.dispose();
      expectClose(tf.concat(steps, 1), full, { atol: 1e-4 });
    });
    model.dispose();
  });
});
