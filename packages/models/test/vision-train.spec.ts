import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, build } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';
import type { ViT } from '@attnkit/models';
import {
  ImageSource,
  ShapesTask,
  TaskSource,
  Trainer,
  createImageTask,
  createTask,
  getPreset,
  makeImageBatch,
  taskKind,
} from '@attnkit/models';
import { CliError, evalCommand, generateCommand, trainCommand } from '@attnkit/models/cli';
import { loadRun } from '../src/cli/run-files';
import { planTraining } from '../src/cli/train-plan';
import { capture } from './capture-io';
import { describeWithBlocks } from './blocks-ready';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-vision-'));

describe('shapes task', () => {
  it('is an image task: seeded, labels in range, images of the asked size', () => {
    expect(taskKind('shapes')).toBe('image');
    expect(taskKind('mqar')).toBe('tokens');
    const task = createImageTask('shapes', { imageSize: 16, channels: 2, numClasses: 4 });
    const a = makeImageBatch(task, new Rng(3), 32);
    const b = makeImageBatch(task, new Rng(3), 32);
    expect(a.images).toEqual(b.images);
    expect(a.images).toHaveLength(32 * 16 * 16 * 2);
    expect(Math.min(...a.labels)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a.labels)).toBeLessThan(4);
    expect(new Set(a.labels).size).toBe(4);
  });

  it('draws different patterns per class (noise-free class means differ)', () => {
    const task = new ShapesTask({ imageSize: 8, channels: 1, numClasses: 10, noise: 0 });
    const rng = new Rng(0);
    const seen = new Map<number, string>();
    for (let i = 0; i < 200; i++) {
      const { image, label } = task.sample(rng);
      seen.set(label, Array.from(image, (v) => (v > 0 ? 1 : 0)).join(''));
    }
    expect(seen.size).toBe(10);
    expect(new Set(seen.values()).size).toBe(10);
  });

  it('refuses bad options and the wrong kind of maker, naming them', () => {
    expect(() => new ShapesTask({ imageSize: 12, channels: 3, numClasses: 4 })).toThrow(
      /shapes: imageSize expected a multiple of 8, got 12/,
    );
    expect(() => new ShapesTask({ imageSize: 16, channels: 3, numClasses: 11 })).toThrow(
      ConfigError,
    );
    expect(() => createTask('shapes')).toThrow(/a token task .*got 'shapes'/);
    expect(() => createImageTask('mqar')).toThrow(/an image task .*got 'mqar'/);
  });

  it('the Trainer trains and evaluates a vit on image batches without leaking tensors', async () => {
    const config = {
      type: 'vit',
      imageSize: 8,
      patchSize: 4,
      dModel: 8,
      numLayers: 1,
      numClasses: 3,
      block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 16 } },
    };
    const vit = build<ViT>(config, { rng: new Rng(0) });
    const task = new ShapesTask({ imageSize: 8, channels: 3, numClasses: 3 });
    const trainer = new Trainer<ViT>(vit, new ImageSource(task, 4, 1), { steps: 3 });
    trainer.trainStep(); // the optimizer's moments are made on the first step
    await expectNoLeaks(() => {
      const m = trainer.trainStep();
      expect(m.tokens).toBe(4 * 4); // images × patches
      expect(Number.isFinite(m.loss)).toBe(true);
      const ev = trainer.evaluate(new ImageSource(task, 4, 2), 2);
      expect(ev.accuracy).toBeGreaterThanOrEqual(0);
      expect(ev.accuracy).toBeLessThanOrEqual(1);
    });
    trainer.dispose();
    vit.dispose();
  });

  it('the Trainer refuses a vit on token batches', () => {
    const vit = build<ViT>(getPreset('vit-tiny'), { rng: new Rng(0) });
    const trainer = new Trainer<ViT>(vit, new TaskSource(createTask('mqar'), 2, 1), { steps: 1 });
    expect(() => trainer.trainStep()).toThrow(
      /Trainer: model expected a 'decoder-lm' model for token batches, got a 'vit' model/,
    );
    trainer.dispose();
    vit.dispose();
  });
});

/**
 * A vit preset shrunk to spec size (16×16 images in 4×4 patches: the same 4×4 grid, so the
 * neighbourhood mixer's grid still fits; dModel 32), written as a --config: on tfjs' cpu backend
 * the full presets take ~0.6 s (vit-tiny) and ~1.2 s (neighborhood-vit-tiny) per step of 8.
 */
function smallVit(dir: string, preset: string): string {
  const p = getPreset(preset) as unknown as {
    block: { mixer: object; feedForward: object };
  };
  const file = path.join(dir, `${preset}-small.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      ...p,
      imageSize: 16,
      patchSize: 4,
      dModel: 32,
      block: {
        ...p.block,
        mixer: { ...p.block.mixer, numHeads: 2 },
        feedForward: { ...p.block.feedForward, hiddenDim: 64 },
      },
    }),
  );
  return file;
}

describeWithBlocks('attnkit train on images (in-process)', () => {
  it.each(['vit-tiny', 'neighborhood-vit-tiny'])(
    '--preset %s plans a shapes run sized by the preset (the default task of a vit)',
    (preset) => {
      const out = tmp();
      const plan = planTraining({ preset, out });
      expect(plan.imageTask).toBeInstanceOf(ShapesTask);
      expect(plan.imageTask!.options).toMatchObject({ imageSize: 32, channels: 3, numClasses: 10 });
      expect([plan.task, plan.tokenizer, plan.runDir]).toEqual([
        undefined,
        undefined,
        path.join(out, `${preset}-shapes`),
      ]);
      expect(fs.readdirSync(out)).toEqual([]);
    },
  );

  it.each(['vit-tiny', 'neighborhood-vit-tiny'])(
    '%s (shrunk) learns shapes well above chance; the run loads back and eval reports accuracy',
    async (preset) => {
      const out = tmp();
      try {
        const config = smallVit(out, preset);
        const opts = {
          config,
          task: 'shapes',
          out,
          batchSize: 8,
          lr: 1e-2,
          warmup: 2,
          backend: 'cpu',
        };
        const result = await trainCommand({ ...opts, steps: 20 }, capture());
        expect(result.steps).toBe(20);
        expect(result.accuracy).toBeGreaterThan(0.3); // 10 classes: chance is 0.1
        const run = result.runDir;
        expect(fs.existsSync(path.join(run, 'tokenizer.json'))).toBe(false);
        const info = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'));
        expect(info).toMatchObject({ task: 'shapes', taskOptions: { imageSize: 16 } });
        const loaded = await loadRun(run);
        if (loaded.kind !== 'image') throw new Error(`expected an image run, got ${loaded.kind}`);
        const logits = loaded.model.forward(tf.zeros([1, 16, 16, 3]) as tf.Tensor4D);
        expect(logits.shape).toEqual([1, 10]);
        tf.dispose(logits);
        loaded.model.dispose();
        const io = capture();
        const ev = await evalCommand({ run, backend: 'cpu', batches: 1 }, io);
        expect(ev.accuracy).toBeGreaterThan(0.3); // the trained weights, not a fresh model
        expect(io.lines[0]).toMatch(/^loss \d\.\d{4} nats\/example {2}accuracy \d\.\d{3}$/);
        await expect(generateCommand({ run, backend: 'cpu' }, capture())).rejects.toThrow(
          /is a 'vit' image classifier/,
        );
        if (preset === 'vit-tiny') {
          const more = await trainCommand(
            { ...opts, config: undefined, name: path.basename(run), resume: true, steps: 21 },
            capture(),
          );
          expect(more.steps).toBe(21);
        }
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    },
    120_000,
  );

  it('refuses a token task with a vit and an image task with a decoder-lm, naming both', async () => {
    const out = tmp();
    await expect(
      trainCommand({ preset: 'vit-tiny', task: 'mqar', out }, capture()),
    ).rejects.toThrow(
      /task 'mqar' is a token task and preset 'vit-tiny' is a 'vit' model; it trains on an image task \(shapes\)/,
    );
    await expect(
      trainCommand({ preset: 'llama-tiny', task: 'shapes', out }, capture()),
    ).rejects.toThrow(
      /task 'shapes' is an image task and preset 'llama-tiny' is a 'decoder-lm' model; it trains on a token task \(mqar,/,
    );
    await expect(
      trainCommand({ preset: 'neighborhood-vit-tiny', data: 'x.txt', out }, capture()),
    ).rejects.toThrow(CliError);
    expect(fs.readdirSync(out)).toEqual([]);
  });
});
