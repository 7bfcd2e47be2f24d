// Issue 16: run directories (run.json, tokenizer.json, config.json, model.safetensors) and
// checkpoint directories (state.json, model.safetensors, optimizer.safetensors), mutated from a
// real run and read the way the CLI and the trainer read them: loadRun (generate, eval),
// planTraining --resume, loadCheckpoint. Each read must succeed with what the files say or end
// in one of the library's typed errors, leak no tensor, and allocate at most a fixed multiple of
// the directory's bytes. ATTNKIT_FUZZ=n runs n inputs per file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { AttnkitError, Rng } from '@attnkit/core';
import { IdTokenizer, MqarTask, TaskSource, TokenizerError, Trainer } from '@attnkit/models';
import { CheckpointError, loadCheckpoint, saveCheckpoint } from '@attnkit/models/node';
import { CliError } from '@attnkit/models/cli';
import { loadRun, saveRunFiles } from '../src/cli/run-files';
import { planTraining } from '../src/cli/train-plan';
import { tinyLm } from './helpers';
import { fuzzCount, mutateBytes, mutateJsonText, preview } from './fuzz-mutations';

const perFile = fuzzCount(80);
// Large ATTNKIT_FUZZ runs take longer than jest's default limit.
const timeout = Math.max(60_000, 100 * perFile);
const options = { numPairs: 2, numKeys: 4, numValues: 4 };
const task = new MqarTask(options);
const runFiles = ['run.json', 'tokenizer.json', 'config.json', 'model.safetensors'];
const checkpointFiles = ['state.json', 'model.safetensors', 'optimizer.safetensors'];

let root: string;
let run: string;
let checkpoint: string;
let trainer: Trainer;
let dirBytes = 0;
const originals = new Map<string, Buffer>();

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-run-fuzz-'));
  run = path.join(root, 'run');
  checkpoint = path.join(run, 'checkpoint');
  const rng = new Rng(0);
  const model = tinyLm({ vocabSize: task.vocabSize, maxLength: 8 }, 0, rng);
  const made = new Trainer(model, new TaskSource(task, 2, 1), { steps: 10, rngs: [rng] });
  made.trainStep();
  await saveCheckpoint(checkpoint, made, { note: 'fuzz' });
  const info = { task: 'mqar', taskOptions: options, seqLen: 8, batchSize: 2, lr: 1e-3 };
  await saveRunFiles(run, model, new IdTokenizer(task.vocabSize), {
    ...info,
    steps: 10,
    seed: 0,
    weightDecay: 0,
    schedule: 'wsd',
    warmupSteps: 1,
  });
  made.dispose();
  model.dispose();
  // The trainer each checkpoint is restored into: the same config, other weights.
  const rng2 = new Rng(5);
  const fresh = tinyLm({ vocabSize: task.vocabSize, maxLength: 8 }, 5, rng2);
  trainer = new Trainer(fresh, new TaskSource(task, 2, 7), { steps: 10, rngs: [rng2] });
  for (const f of runFiles) originals.set(path.join(run, f), fs.readFileSync(path.join(run, f)));
  for (const f of checkpointFiles) {
    originals.set(path.join(checkpoint, f), fs.readFileSync(path.join(checkpoint, f)));
  }
  for (const bytes of originals.values()) dirBytes += bytes.length;
});

afterAll(() => {
  trainer?.model.dispose();
  trainer?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

function isTyped(error: unknown): boolean {
  return (
    error instanceof AttnkitError ||
    error instanceof CliError ||
    error instanceof CheckpointError ||
    error instanceof TokenizerError
  );
}

/** Writes a mutated copy of `file` (JSON-aware for .json), returning what was written. */
function damage(file: string, rng: Rng): string | Uint8Array {
  const original = originals.get(file)!;
  if (file.endsWith('.json')) {
    const text = mutateJsonText(original.toString('utf8'), rng);
    fs.writeFileSync(file, text);
    return text;
  }
  const bytes = mutateBytes(original, rng);
  fs.writeFileSync(file, bytes);
  return bytes;
}

/**
 * Runs `read` and measures it: tf.profile's peakBytes is the most tensor memory alive during
 * the call (tfjs-tracked bytes: decoded weights, built parameters; not the JS heap); minus the
 * bytes alive before, it is what the read allocated at most.
 */
async function measured(
  read: () => Promise<void> | void,
): Promise<{ error?: unknown; peak: number }> {
  const before = tf.memory().numBytes;
  let error: unknown;
  const info = await tf.profile(async () => {
    try {
      await read();
    } catch (e) {
      error = e;
    }
    return [] as tf.Tensor[];
  });
  expect(tf.memory().numBytes).toBe(before);
  return { error, peak: info.peakBytes - before };
}

describe('run directory fuzz', () => {
  it.each(runFiles)(
    '%s damaged: loadRun and --resume planning',
    async (name) => {
      const rng = new Rng(31_000 + name.length * 131 + name.charCodeAt(0));
      const file = path.join(run, name);
      const untyped: string[] = [];
      let accepted = 0;
      try {
        for (let i = 0; i < perFile; i++) {
          const input = damage(file, rng);
          const load = await measured(async () => {
            const loaded = await loadRun(run);
            try {
              accepted++;
              const { info, model, tokenizer } = loaded;
              // Accepted means consistent: the ranges run.json promises, one vocabulary.
              for (const n of [info.seqLen, info.batchSize, info.steps]) {
                expect(Number.isInteger(n) && n >= 1).toBe(true);
              }
              expect(info.lr > 0 && Number.isFinite(info.lr)).toBe(true);
              expect(loaded.kind).toBe('lm');
              expect(tokenizer?.vocabSize).toBe((model.config as { vocabSize?: number }).vocabSize);
              expect(4 * model.numParams()).toBeLessThanOrEqual(dirBytes);
            } finally {
              loaded.model.dispose();
            }
          });
          const plan = await measured(() => {
            planTraining({ out: root, name: 'run', resume: true });
          });
          for (const { error } of [load, plan]) {
            if (error !== undefined && !isTyped(error)) {
              untyped.push(`#${i} ${String(error).slice(0, 200)} <- ${preview(input)}`);
            } else if (error !== undefined) {
              expect((error as Error).message.length).toBeLessThan(2000);
            }
          }
          // Reading decodes the weights and builds the model once: a small multiple of the files.
          expect(Math.max(load.peak, plan.peak)).toBeLessThanOrEqual(4 * dirBytes);
        }
      } finally {
        fs.writeFileSync(file, originals.get(file)!);
      }
      expect(untyped).toEqual([]);
      expect(accepted).toBeGreaterThan(0);
    },
    timeout,
  );

  it.each(checkpointFiles)(
    'checkpoint %s damaged: loadCheckpoint',
    async (name) => {
      const rng = new Rng(47_000 + name.length * 131 + name.charCodeAt(0));
      const file = path.join(checkpoint, name);
      const untyped: string[] = [];
      try {
        for (let i = 0; i < perFile; i++) {
          const input = damage(file, rng);
          const { error, peak } = await measured(() => {
            const info = loadCheckpoint(checkpoint, trainer);
            // Accepted means restored as written: the step and the RNG state of state.json.
            const state = JSON.parse(fs.readFileSync(path.join(checkpoint, 'state.json'), 'utf8'));
            expect(info.step).toBe(state.step);
            expect(trainer.step).toBe(state.step);
            expect(trainer.options.rngs[0]!.getState()).toEqual(state.rngs[0]);
          });
          if (error !== undefined && !isTyped(error)) {
            untyped.push(`#${i} ${String(error).slice(0, 200)} <- ${preview(input)}`);
          } else if (error !== undefined) {
            expect((error as Error).message.length).toBeLessThan(2000);
          }
          expect(peak).toBeLessThanOrEqual(4 * dirBytes);
        }
      } finally {
        fs.writeFileSync(file, originals.get(file)!);
      }
      expect(untyped).toEqual([]);
    },
    timeout,
  );
});

describe('run directory regressions found by the fuzz', () => {
  /** Runs `edit` on a copy of the run directory's file, then restores it. */
  async function withFile<T>(file: string, text: string, body: () => Promise<T> | T): Promise<T> {
    fs.writeFileSync(file, text);
    try {
      return await body();
    } finally {
      fs.writeFileSync(file, originals.get(file)!);
    }
  }
  const json = (file: string) => JSON.parse(originals.get(file)!.toString('utf8'));

  it('refuses a run.json with a rate, a step count or a size out of range (it was trained with)', async () => {
    const file = path.join(run, 'run.json');
    for (const [field, value, expected] of [
      ['lr', 'abc', /\$\.lr expected number/],
      ['lr', 0, /\$\.lr expected a value > 0/],
      ['steps', -1, /\$\.steps expected a value >= 1/],
      ['seqLen', 1.5, /\$\.seqLen expected int/],
    ] as const) {
      const text = JSON.stringify({ ...json(file), [field]: value });
      await withFile(file, text, async () => {
        await expect(loadRun(run)).rejects.toThrow(CliError);
        await expect(loadRun(run)).rejects.toThrow(expected);
        expect(() => planTraining({ out: root, name: 'run', resume: true })).toThrow(expected);
      });
    }
  });

  it('refuses a tokenizer whose vocabulary is not the model’s', async () => {
    const file = path.join(run, 'tokenizer.json');
    await withFile(file, JSON.stringify({ type: 'ids', vocabSize: 1000 }), async () => {
      const message = /tokenizer.json has 1000 tokens, config.json's vocabSize is \d+/;
      await expect(loadRun(run)).rejects.toThrow(message);
      expect(() => planTraining({ out: root, name: 'run', resume: true })).toThrow(message);
    });
  });

  it('refuses a damaged state.json with a CheckpointError', async () => {
    const file = path.join(checkpoint, 'state.json');
    const state = json(file);
    for (const [text, expected] of [
      ['{"step": 1,', /state.json expected valid JSON/],
      [JSON.stringify({ ...state, step: 1.5 }), /"step" expected a non-negative integer, got 1.5/],
      [JSON.stringify({ ...state, rngs: [[1, null, 2, 3]] }), /"rngs" expected an array of RNG/],
      [JSON.stringify({ ...state, data: null }), /state.json "data"/],
    ] as const) {
      await withFile(file, text, () => {
        expect(() => loadCheckpoint(checkpoint, trainer)).toThrow(CheckpointError);
        expect(() => loadCheckpoint(checkpoint, trainer)).toThrow(expected);
      });
    }
  });

  it('leaves the trainer as it was when the optimizer file does not match', async () => {
    const file = path.join(checkpoint, 'optimizer.safetensors');
    const { encodeSafetensors } = await import('@attnkit/core');
    const zeros = tf.zeros([1]);
    const wrong = await encodeSafetensors({ 'm.x': zeros });
    zeros.dispose();
    const step = trainer.step;
    const weights = trainer.model.parameters().map((p) => Array.from(p.dataSync()));
    const source = trainer.source.getState();
    fs.writeFileSync(file, wrong);
    try {
      expect(() => loadCheckpoint(checkpoint, trainer)).toThrow(
        /checkpoint: .*optimizer.safetensors: AdamW: optimizer state .* expected float32/,
      );
    } finally {
      fs.writeFileSync(file, originals.get(file)!);
    }
    expect(trainer.step).toBe(step);
    expect(trainer.source.getState()).toEqual(source);
    expect(trainer.model.parameters().map((p) => Array.from(p.dataSync()))).toEqual(weights);
  });
});
