// titans-mac-tiny, titans-mag-tiny, titans-mal-tiny (@attnkit/memory): each preset builds and runs,
// a shrunk copy trains a few steps with falling loss, and decoding token by token (the memory's
// weights as the state) equals the full forward.
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';
import '@attnkit/memory';
import {
  type BatchSource,
  type DecoderLM,
  MqarTask,
  TaskSource,
  Trainer,
  getPreset,
} from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';

type Preset = {
  dModel: number;
  numLayers: number;
  positional: { type: string };
  block: { mixer: Record<string, unknown> & { type: string } };
};

describeWithBlocks.each(['mac', 'mag', 'mal'])('titans-%s-tiny', (kind) => {
  const name = `titans-${kind}-tiny`;
  const task = new MqarTask({ numPairs: 2, numKeys: 4, numValues: 4, totalLength: 12 });
  // Shrunk to dModel 16, 4-token chunks and windows, so training crosses chunk boundaries quickly.
  const shrunk = () => {
    const p = getPreset(name) as unknown as Preset;
    const window = kind === 'mac' ? {} : { window: 4 };
    const mixer = { ...p.block.mixer, numHeads: 2, chunkSize: 4, persistentTokens: 2, ...window };
    const positional = kind === 'mac' ? p.positional : { type: 'rotary', headDim: 8 };
    return {
      ...p,
      vocabSize: task.vocabSize,
      dModel: 16,
      positional,
      block: { ...p.block, mixer, feedForward: { type: 'swiglu', hiddenDim: 32 } },
    };
  };

  it('is a 2-layer decoder-lm of dModel 64 with the Titans mixer that builds and runs', () => {
    const p = getPreset(name) as unknown as Preset;
    expect([p.dModel, p.numLayers, p.block.mixer.type]).toEqual([64, 2, `titans-${kind}`]);
    const model = build<DecoderLM>(p, { rng: new Rng(2) });
    tf.tidy(() => {
      const ids = tf.zeros([1, 20], 'int32') as tf.Tensor2D;
      expect(model.forward(ids).shape).toEqual([1, 20, 65]);
    });
    model.dispose();
  });

  it('trains: the loss on a batch falls over 6 steps', () => {
    const rng = new Rng(0);
    const model = build<DecoderLM>(shrunk(), { rng });
    // The same batch every step, so the loss measures learning, not the draw.
    const source = new TaskSource(task, 4, 1);
    const start = source.getState();
    const oneBatch: BatchSource = {
      next: () => (source.setState(start), source.next()),
      getState: () => start,
      setState: () => undefined,
    };
    const trainer = new Trainer(model, oneBatch, {
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

  it('decoding token by token equals the full forward across chunk boundaries', () => {
    const model = build<DecoderLM>(shrunk(), { rng: new Rng(1) });
    tf.tidy(() => {
      const ids = tf.tensor2d(
        [Array.from({ length: 11 }, (_, i) => (i * 5) % task.vocabSize)],
        [1, 11],
        'int32',
      );
      const full = model.forward(ids);
      const state = model.initState(1);
      const steps = tf.split(ids, 11, 1).map((t) => model.forward(t as tf.Tensor2D, { state }));
      state.dispose();
      expectClose(tf.concat(steps, 1), full, { atol: 1e-4 });
    });
    model.dispose();
  });
});
