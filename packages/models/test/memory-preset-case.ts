// The spec every memory preset of @attnkit/memory shares (knn-lm-tiny, rmt-lm-tiny, titans-*-tiny):
// the preset is a 2-layer decoder-lm of dModel 64 with its mixer that builds and runs; a copy shrunk
// to dModel 16 trains a few steps with falling loss; and decoding token by token (the memory as the
// state) equals the full forward across the memory's segment or chunk ends.
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

export interface MemoryPresetCase {
  /** The preset's name, e.g. 'knn-lm-tiny'. */
  preset: string;
  /** The mixer type the preset's blocks use. */
  mixer: string;
  /** The MQAR task the shrunk copy trains and decodes on. */
  task: ConstructorParameters<typeof MqarTask>[0];
  /** Mixer options of the shrunk copy (small segments or chunks, so a short input crosses them). */
  shrink: Record<string, unknown>;
  /** Positional encoding of the shrunk copy; default the preset's. */
  positional?: Record<string, unknown>;
  /** Training: batch size, and whether every step sees the same batch (default fresh batches). */
  batch: number;
  sameBatch?: boolean;
  /** Tokens decoded one at a time, and what they cross (for the test's title). */
  decodeLength: number;
  decodeStride: number;
  crosses: string;
}

/** Registers the three tests of a memory preset under describe(c.preset). */
export function describeMemoryPreset(c: MemoryPresetCase): void {
  describeWithBlocks(c.preset, () => {
    const task = new MqarTask(c.task);
    const shrunk = () => {
      const p = getPreset(c.preset) as unknown as Preset;
      return {
        ...p,
        vocabSize: task.vocabSize,
        dModel: 16,
        positional: c.positional ?? p.positional,
        block: {
          ...p.block,
          mixer: { ...p.block.mixer, ...c.shrink },
          feedForward: { type: 'swiglu', hiddenDim: 32 },
        },
      };
    };

    it(`is a 2-layer decoder-lm of dModel 64 with ${c.mixer} mixers that builds and runs`, () => {
      const p = getPreset(c.preset) as unknown as Preset;
      expect([p.dModel, p.numLayers, p.block.mixer.type]).toEqual([64, 2, c.mixer]);
      const model = build<DecoderLM>(p, { rng: new Rng(2) });
      tf.tidy(() => {
        const ids = tf.zeros([1, 20], 'int32') as tf.Tensor2D;
        expect(model.forward(ids).shape).toEqual([1, 20, 65]);
      });
      model.dispose();
    });

    it(`trains: the loss${c.sameBatch ? ' on a batch' : ''} falls over 6 steps`, () => {
      const rng = new Rng(0);
      const model = build<DecoderLM>(shrunk(), { rng });
      const source = new TaskSource(task, c.batch, 1);
      // With sameBatch every step sees the same batch, so the loss measures learning, not the draw.
      const start = source.getState();
      const oneBatch: BatchSource = {
        next: () => (source.setState(start), source.next()),
        getState: () => start,
        setState: () => undefined,
      };
      const trainer = new Trainer(model, c.sameBatch ? oneBatch : source, {
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

    it(`decoding token by token equals the full forward across ${c.crosses}`, () => {
      const model = build<DecoderLM>(shrunk(), { rng: new Rng(1) });
      const n = c.decodeLength;
      tf.tidy(() => {
        const ids = tf.tensor2d(
          [Array.from({ length: n }, (_, i) => (i * c.decodeStride) % task.vocabSize)],
          [1, n],
          'int32',
        );
        const full = model.forward(ids);
        const state = model.initState(1);
        const steps = tf.split(ids, n, 1).map((t) => model.forward(t as tf.Tensor2D, { state }));
        state.dispose();
        expectClose(tf.concat(steps, 1), full, { atol: 1e-4 });
      });
      model.dispose();
    });
  });
}
