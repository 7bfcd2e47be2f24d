// Every assembly trains (issue 20): the Trainer on masked-LM and classification batches
// (encoders) and teacher-forced seq2seq batches (encoder-decoders); `attnkit train`, `eval` and
// `generate` on each kind of run.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build } from '@attnkit/core';
import type { Batch, BatchSource, Encoder, EncoderDecoder, TrainableModel } from '@attnkit/models';
import {
  BatchTaskSource,
  MajorityTask,
  MaskedCopyTask,
  ReverseTask,
  Trainer,
  createBatchTask,
  generateSeq2Seq,
} from '@attnkit/models';
import { evalCommand, generateCommand, trainCommand } from '@attnkit/models/cli';
import { describeWithBlocks } from './blocks-ready';
import { capture } from './capture-io';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-assemblies-'));
const block = { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 16 } };
const encoder = (extra: object) => ({
  type: 'encoder',
  dModel: 8,
  numLayers: 1,
  positional: { type: 'learned' },
  block,
  ...extra,
});
const seq2seq = {
  type: 'encoder-decoder',
  dModel: 8,
  encoderLayers: 1,
  decoderLayers: 1,
  positional: { type: 'learned' },
  block,
};

describe('encoder and encoder-decoder tasks', () => {
  it('masked-copy masks one twin of each chosen pair, ~15% of the tokens, at least one', () => {
    const task = new MaskedCopyTask({ length: 8, numSymbols: 8 });
    const b = task.batch(new Rng(1), 200);
    let masked = 0;
    for (let s = 0; s < 200; s++) {
      const row = (a: ArrayLike<number>) => Array.from(a).slice(s * 17, s * 17 + 17);
      const [inputs, targets, weights] = [row(b.inputs), row(b.targets), row(b.weights)];
      expect(weights.some((w) => w === 1)).toBe(true);
      expect(targets[8]).toBe(MaskedCopyTask.SEP);
      for (let i = 0; i < 8; i++) {
        expect(targets[i]).toBe(targets[9 + i]); // the copy
        expect(weights[i]! + weights[9 + i]!).toBeLessThanOrEqual(1); // never both twins
      }
      weights.forEach((w, i) => {
        expect(inputs[i]).toBe(w === 1 ? MaskedCopyTask.MASK : targets[i]);
        masked += w;
      });
    }
    expect(masked / (200 * 16)).toBeGreaterThan(0.12);
    expect(masked / (200 * 16)).toBeLessThan(0.2);
  });

  it('majority labels the strictly most frequent symbol; reverse targets the reversed source', () => {
    const maj = new MajorityTask({ length: 15, numClasses: 3 });
    const b = maj.batch(new Rng(2), 100);
    const seen = new Set<number>();
    for (let s = 0; s < 100; s++) {
      const row = Array.from(b.inputs.subarray(s * 16, s * 16 + 16));
      expect(row[0]).toBe(MajorityTask.CLS);
      const counts = [0, 0, 0];
      for (const t of row.slice(1)) counts[t - 2]!++;
      const label = b.labels[s]!;
      seen.add(label);
      for (let k = 0; k < 3; k++)
        if (k !== label) expect(counts[label]).toBeGreaterThan(counts[k]!);
    }
    expect(seen.size).toBe(3);
    const rev = new ReverseTask({ length: 5, numSymbols: 4 });
    const r = rev.batch(new Rng(3), 2);
    const src = Array.from(r.sources.subarray(0, 5));
    expect(Array.from(r.targets.subarray(0, 5))).toEqual([...src].reverse());
    expect(Array.from(r.inputs.subarray(0, 5))).toEqual([
      rev.bos,
      ...[...src].reverse().slice(0, 4),
    ]);
  });
});

/** One batch over and over: a model that trains fits it within a few steps. */
function repeating(batch: Batch): BatchSource {
  return { next: () => batch, getState: () => null, setState: () => {} };
}

/** Losses of `steps` steps on one repeated batch, and the evaluation on it. */
function trainLosses(model: TrainableModel, batch: Batch, steps: number) {
  const source = repeating(batch);
  const trainer = new Trainer<TrainableModel>(model, source, { steps, lr: 3e-2, warmupSteps: 0 });
  const losses = Array.from({ length: steps }, () => trainer.trainStep().loss);
  const ev = trainer.evaluate(source, 1);
  trainer.dispose();
  return { losses, ev };
}

describeWithBlocks('Trainer on every assembly', () => {
  it.each([
    ['masked', encoder({ mlmHead: {} }), 'masked-copy'],
    ['classes', encoder({ numClasses: 2 }), 'majority'],
    ['seq2seq', seq2seq, 'reverse'],
  ])('%s batches: the model fits a batch, without leaking tensors', (_kind, config, name) => {
    const task = createBatchTask(name as string, undefined);
    const model = build<TrainableModel>(
      {
        ...(config as object),
        vocabSize: task.vocabSize,
        maxLength: task.seqLen,
        ...(task.kind === 'classes' ? { numClasses: task.numClasses } : {}),
      },
      { rng: new Rng(0) },
    );
    const before = tf.memory().numTensors;
    const { losses, ev } = trainLosses(model, task.batch(new Rng(1), 8), 20);
    expect(tf.memory().numTensors).toBe(before);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-3))).toBeLessThan(mean(losses.slice(0, 3)) * 0.85);
    expect(ev.accuracy).toBeGreaterThanOrEqual(0);
    expect(ev.accuracy).toBeLessThanOrEqual(1);
    model.dispose();
  });

  it('refuses a batch of another kind, naming the model it needs', () => {
    const task = createBatchTask('majority');
    const model = build<EncoderDecoder>(
      { ...seq2seq, vocabSize: task.vocabSize, maxLength: task.seqLen },
      { rng: new Rng(0) },
    );
    const trainer = new Trainer<TrainableModel>(model, new BatchTaskSource(task, 2, 0), {
      steps: 1,
    });
    expect(() => trainer.trainStep()).toThrow(/an 'encoder' model with numClasses/);
    trainer.dispose();
    const enc = build<Encoder>(encoder({ vocabSize: 8, maxLength: 17 }), { rng: new Rng(0) });
    const mlm = new Trainer<TrainableModel>(
      enc,
      new BatchTaskSource(createBatchTask('masked-copy'), 2, 0),
      {
        steps: 1,
      },
    );
    expect(() => mlm.trainStep()).toThrow(/an 'encoder' model with an mlmHead/);
    mlm.dispose();
    enc.dispose();
    model.dispose();
  });

  it('generateSeq2Seq decodes greedily with the cache as the full decoder does', () => {
    const model = build<EncoderDecoder>(
      { ...seq2seq, vocabSize: 10, maxLength: 8 },
      { rng: new Rng(4) },
    );
    const source = [2, 3, 4, 5];
    const got = generateSeq2Seq(model, source, { bos: 1, maxTokens: 5 });
    // The same tokens by re-decoding the whole prefix at every step (no state).
    const want: number[] = [];
    const memory = model.encode(tf.tensor2d([source], [1, 4], 'int32'));
    for (let i = 0; i < 5; i++) {
      const tgt = tf.tensor2d([[1, ...want]], [1, i + 1], 'int32');
      const logits = model.decode(tgt, memory);
      want.push(tf.argMax(tf.reshape(logits, [-1, 10]), -1).dataSync()[i]!);
      tf.dispose([tgt, logits]);
    }
    memory.dispose();
    expect(got).toEqual(want);
    expect(generateSeq2Seq(model, source, { bos: 1, maxTokens: 50 })).toHaveLength(8);
    model.dispose();
  });
});

describeWithBlocks('attnkit train, eval and generate on encoders and encoder-decoders', () => {
  const out = tmp();
  const config = (name: string, c: object) => {
    const file = path.join(out, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(c));
    return file;
  };
  const train = (c: string, extra: object = {}) =>
    trainCommand({ config: c, out, steps: 3, batchSize: 4, backend: 'cpu', ...extra }, capture());

  it('an encoder trains on majority by default, on masked-copy with an mlmHead added', async () => {
    const io = capture();
    const cls = await trainCommand(
      { config: config('enc', encoder({})), out, steps: 3, batchSize: 4, backend: 'cpu' },
      io,
    );
    expect(path.basename(cls.runDir)).toBe('enc-majority');
    expect(JSON.parse(fs.readFileSync(path.join(cls.runDir, 'config.json'), 'utf8'))).toMatchObject(
      {
        vocabSize: 4,
        maxLength: 16,
        numClasses: 2,
      },
    );
    expect(io.lines.join('\n')).toMatch(/accuracy \d\.\d{3} on 256 fresh sequences/);
    expect(io.lines.at(-1)).toBe(`next: attnkit eval --run ${cls.runDir}`);
    const mlm = await train(config('enc', encoder({})), { task: 'masked-copy' });
    const saved = JSON.parse(fs.readFileSync(path.join(mlm.runDir, 'config.json'), 'utf8'));
    expect(saved.mlmHead).toBeDefined();
    expect(mlm.sample).toMatch(/masked at [\d ]+: [\d ]+ \(expected [\d ]+\)/);
    const r = await evalCommand({ run: mlm.runDir, batches: 1, backend: 'cpu' }, capture());
    expect(r).toMatchObject({ unit: 'nats/token', accuracy: expect.any(Number) });
    const c = await evalCommand({ run: cls.runDir, batches: 1, backend: 'cpu' }, capture());
    expect(c.unit).toBe('nats/example');
    expect(c.perplexity).toBeUndefined();
    await expect(
      generateCommand({ run: cls.runDir, backend: 'cpu' }, capture(), () => true),
    ).rejects.toThrow(
      /is an 'encoder' \(bidirectional.*generate decodes decoder LMs and encoder-decoders/,
    );
    // resumed from its own task
    const more = await trainCommand(
      { out, name: 'enc-majority', resume: true, steps: 4, backend: 'cpu' },
      capture(),
    );
    expect(more.steps).toBe(4);
  });

  it('an encoder-decoder trains on reverse; generate decodes a source given as --prompt', async () => {
    const io = capture();
    const run = await trainCommand(
      { config: config('s2s', seq2seq), out, steps: 3, batchSize: 4, backend: 'cpu' },
      io,
    );
    expect(path.basename(run.runDir)).toBe('s2s-reverse');
    expect(run.sample).toMatch(/^source [\d ]+ -> [\d ]+ \(expected [\d ]+\)$/);
    expect(io.lines.at(-1)).toMatch(
      /^next: attnkit generate --run .* --prompt "[\d ]+"; attnkit eval/,
    );
    const written: string[] = [];
    const text = await generateCommand(
      { run: run.runDir, prompt: '2 3 4', backend: 'cpu' },
      capture(),
      (s) => written.push(s),
    );
    expect(text.split(' ')).toHaveLength(8); // to maxLength
    expect(written.join('')).toBe(`${text}\n`);
    await expect(
      generateCommand({ run: run.runDir, backend: 'cpu' }, capture(), () => true),
    ).rejects.toThrow(/give the source as --prompt/);
    await expect(
      generateCommand(
        { run: run.runDir, prompt: '2', temperature: 0.8, backend: 'cpu' },
        capture(),
      ),
    ).rejects.toThrow(/decoded greedily; sampling options/);
    const r = await evalCommand({ run: run.runDir, batches: 1, backend: 'cpu' }, capture());
    expect(r).toMatchObject({ unit: 'nats/token', perplexity: expect.any(Number) });
  });

  it('refuses --data and a task of another kind for an encoder, naming what fits', async () => {
    await expect(train(config('enc', encoder({})), { task: 'mqar' })).rejects.toThrow(
      /task 'mqar' is a token task and --config .*enc.json is a 'encoder' model; it trains on a classification task \(majority\) or a masked-LM task \(masked-copy\)/,
    );
    await expect(train(config('s2s', seq2seq), { data: 'x.txt' })).rejects.toThrow(
      /--data x.txt is text and .* is a 'encoder-decoder' model; it trains on a task \(reverse\)/,
    );
  });
});
