import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@attnkit/core';
import { CopyTask, MqarTask, TaskSource, Trainer } from '@attnkit/models';
import { CheckpointError, loadCheckpoint, saveCheckpoint } from '@attnkit/models/node';
import { tinyLm } from './helpers';

const task = new MqarTask({ numPairs: 2, numKeys: 4, numValues: 4 });

function setup(seed = 0, batchSize = 4, accumulation = 1, dropout = 0.1) {
  const rng = new Rng(seed);
  const model = tinyLm(
    { vocabSize: task.vocabSize, maxLength: 8, ...dropoutBlock(dropout) },
    seed,
    rng,
  );
  const trainer = new Trainer(model, new TaskSource(task, batchSize, seed + 1), {
    steps: 20,
    lr: 1e-2,
    warmupSteps: 2,
    accumulation,
    rngs: [rng],
  });
  return { model, trainer };
}

function dropoutBlock(dropout: number) {
  return {
    block: {
      mixer: { type: 'gqa', numHeads: 2, numKvHeads: 1 },
      feedForward: { type: 'swiglu', hiddenDim: 16 },
      dropout,
    },
  };
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-trainer-'));

import { describeWithBlocks } from './blocks-ready';

describeWithBlocks('Trainer', () => {
  it('lowers the loss on a copy task', () => {
    const copy = new CopyTask({ length: 3, numSymbols: 3 });
    const model = tinyLm({ vocabSize: copy.vocabSize, maxLength: 8 });
    const trainer = new Trainer(model, new TaskSource(copy, 8, 1), { steps: 40, lr: 2e-2 });
    const first = trainer.trainStep().loss;
    let last = first;
    for (let i = 0; i < 39; i++) last = trainer.trainStep().loss;
    expect(last).toBeLessThan(first * 0.8);
    const ev = trainer.evaluate(new TaskSource(copy, 8, 5), 2);
    expect(ev.accuracy).toBeGreaterThanOrEqual(0);
    expect(ev.loss).toBeGreaterThan(0);
    trainer.dispose();
    model.dispose();
  });

  it('accumulating two micro-batches equals one step on both', () => {
    const a = setup(0, 2, 2, 0);
    const b = setup(0, 4, 1, 0); // no dropout, so the two runs see identical math
    const la = a.trainer.trainStep();
    const lb = b.trainer.trainStep();
    expect(la.loss).toBeCloseTo(lb.loss, 4);
    expect(la.gradNorm).toBeCloseTo(lb.gradNorm, 3);
    for (const [name, p] of a.model.namedParameters()) {
      const q = b.model.namedParameters().get(name)!;
      expect(tf.max(tf.abs(tf.sub(p, q))).dataSync()[0]).toBeLessThan(1e-4);
    }
    for (const s of [a, b]) {
      s.trainer.dispose();
      s.model.dispose();
    }
  });

  it('resumes from a checkpoint on exactly the same loss curve', async () => {
    const straight = setup(7);
    const curve = Array.from({ length: 6 }, () => straight.trainer.trainStep().loss);
    straight.trainer.dispose();
    straight.model.dispose();

    const dir = path.join(tmp(), 'checkpoint');
    const first = setup(7);
    const resumed: number[] = [];
    for (let i = 0; i < 3; i++) resumed.push(first.trainer.trainStep().loss);
    await saveCheckpoint(dir, first.trainer, { note: 'x' });
    first.trainer.dispose();
    first.model.dispose();

    const second = setup(123); // different init and data seed: the checkpoint must restore all
    const info = loadCheckpoint(dir, second.trainer);
    expect(info.step).toBe(3);
    expect(info.extra).toEqual({ note: 'x' });
    for (let i = 0; i < 3; i++) resumed.push(second.trainer.trainStep().loss);
    expect(resumed).toEqual(curve);
    second.trainer.dispose();
    second.model.dispose();
  });

  it('refuses a checkpoint of another model, changing nothing', async () => {
    const dir = path.join(tmp(), 'checkpoint');
    const a = setup(1);
    a.trainer.trainStep();
    await saveCheckpoint(dir, a.trainer);
    const other = tinyLm({
      vocabSize: task.vocabSize,
      maxLength: 8,
      dModel: 12,
      positional: { type: 'rotary', headDim: 6 },
    } as never);
    const t = new Trainer(other, new TaskSource(task, 2, 1), { steps: 2 });
    const before = other.namedParameters().values().next().value!.dataSync().slice();
    expect(() => loadCheckpoint(dir, t)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(dir, t)).toThrow(/different model/);
    expect(Array.from(other.namedParameters().values().next().value!.dataSync())).toEqual(
      Array.from(before),
    );
    expect(() => loadCheckpoint(path.join(dir, 'nope'), t)).toThrow(/no state.json/);
    for (const x of [a.trainer, t, a.model, other]) x.dispose();
  });

  it('frees the aux losses routed blocks add (moh mixer, moe feed-forward)', () => {
    const before = tf.memory().numTensors;
    const model = tinyLm({
      vocabSize: task.vocabSize,
      maxLength: 8,
      block: {
        mixer: { type: 'moh', numHeads: 2, numSharedHeads: 1, topK: 1 },
        feedForward: {
          type: 'moe',
          numExperts: 2,
          topK: 1,
          expert: { type: 'swiglu', hiddenDim: 8 },
        },
      },
    });
    const trainer = new Trainer(model, new TaskSource(task, 2, 1), { steps: 3 });
    const { aux } = trainer.trainStep();
    expect(Object.keys(aux).sort()).toEqual(['moe.load_balance', 'moe.z_loss', 'moh.load_balance']);
    const during = tf.memory().numTensors;
    trainer.trainStep();
    trainer.trainStep();
    expect(tf.memory().numTensors).toBe(during);
    trainer.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaks no tensor over 1,000 steps', () => {
    const tiny = new MqarTask({ numPairs: 1, numKeys: 2, numValues: 2 });
    const before = tf.memory().numTensors;
    const model = tinyLm({ vocabSize: tiny.vocabSize, maxLength: 4, numLayers: 1 });
    const trainer = new Trainer(model, new TaskSource(tiny, 2, 1), {
      steps: 1000,
      accumulation: 1,
    });
    trainer.trainStep();
    const during = tf.memory().numTensors;
    for (let i = 1; i < 1000; i++) trainer.trainStep();
    expect(tf.memory().numTensors).toBe(during);
    trainer.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  }, 120000);
});
