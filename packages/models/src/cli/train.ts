import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng, build } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import { generate } from '../generation/generate';
import { getPreset } from '../presets';
import type { PresetConfig } from '../presets';
import { createTask } from '../tasks';
import type { SyntheticTask } from '../tasks';
import { CharTokenizer, IdTokenizer, tokenizerFromJSON } from '../tokenizers';
import type { Tokenizer } from '../tokenizers';
import { loadCheckpoint, readCheckpointInfo, saveCheckpoint } from '../training/checkpoint';
import type { BatchSource } from '../training/data';
import { TaskSource, TextSource } from '../training/data';
import { Trainer } from '../training/trainer';
import { selectBackend } from './backend';
import { CliError } from './errors';
import type { Io } from './io';
import { lossSvg } from './loss-svg';
import { ProgressBar } from './progress';
import type { RunInfo } from './run-files';
import { readJson, saveRunFiles } from './run-files';

export interface TrainOptions {
  preset?: string;
  config?: string;
  task?: string;
  data?: string;
  steps?: number;
  batchSize?: number;
  lr?: number;
  seqLen?: number;
  name?: string;
  out?: string;
  overwrite?: boolean;
  resume?: boolean;
  backend?: string;
  seed?: number;
  json?: boolean;
  checkpointEvery?: number;
  /** Set by the SIGINT handler (or a test): finish the step, checkpoint, stop. */
  stopSignal?: { stop: boolean };
}

export interface TrainResult {
  runDir: string;
  steps: number;
  accuracy?: number;
  evalLoss: number;
  seconds: number;
  interrupted: boolean;
  sample: string;
}

/** Defaults of `attnkit train` with no arguments: llama-tiny on MQAR (see README for timings). */
export const TRAIN_DEFAULTS = {
  preset: 'llama-tiny',
  task: 'mqar',
  steps: 1200,
  batchSize: 32,
  lr: 3e-3,
  seqLen: 64,
  seed: 0,
};

export async function trainCommand(opts: TrainOptions, io: Io): Promise<TrainResult> {
  const started = Date.now();
  const o = { ...TRAIN_DEFAULTS, out: 'runs', ...stripUndefined(opts) };
  if (opts.data && opts.task) throw new CliError('train: give --task or --data, not both');
  const source = opts.data ? `data ${path.basename(opts.data)}` : `task ${o.task}`;
  const name =
    o.name ??
    `${o.preset}-${opts.data ? path.basename(opts.data).replace(/\.[^.]*$/, '') : o.task}`;
  if (!/^[A-Za-z0-9._-]+$/.test(name))
    throw new CliError(`train: --name expected letters, digits, '.', '_' or '-', got '${name}'`);
  const runDir = path.join(o.out, name);
  const exists = fs.existsSync(runDir) && fs.readdirSync(runDir).length > 0;
  if (exists && !o.resume && !o.overwrite) {
    throw new CliError(
      `train: run directory ${runDir} exists; pass --resume to continue it or --overwrite to replace it`,
    );
  }
  if (o.resume && !exists) throw new CliError(`train: --resume given but ${runDir} does not exist`);
  const resuming = Boolean(o.resume && exists);

  // Everything that can fail on bad input happens before any file is touched.
  let tokenizer: Tokenizer;
  let config: PresetConfig;
  let task: SyntheticTask | undefined;
  let ids: Int32Array | undefined;
  const saved = resuming
    ? (readJson(path.join(runDir, 'run.json'), 'run info') as RunInfo)
    : undefined;
  if (opts.data) {
    const text = readDataFile(opts.data);
    tokenizer = resuming
      ? tokenizerFromJSON(readJson(path.join(runDir, 'tokenizer.json'), 'run tokenizer'))
      : CharTokenizer.train(text);
    try {
      ids = Int32Array.from(tokenizer.encode(text));
    } catch (e) {
      throw new CliError(`train: ${opts.data}: ${(e as Error).message}`);
    }
  } else {
    task = createTask(saved?.task ?? o.task, saved?.taskOptions);
    tokenizer = new IdTokenizer(task.vocabSize);
  }
  const seqLen = task ? task.seqLen : o.seqLen;
  if (saved && opts.steps === undefined) o.steps = saved.steps;
  if (resuming) {
    config = readJson(path.join(runDir, 'config.json'), 'run config') as PresetConfig;
  } else if (opts.config) {
    config = readJson(opts.config, 'config') as PresetConfig;
  } else {
    config = getPreset(o.preset);
    config.vocabSize = tokenizer.vocabSize;
    config.maxLength = seqLen;
  }
  const backend = await selectBackend(o.backend);
  const modelRng = new Rng(o.seed);
  const model = build<DecoderLM>(config, { rng: modelRng });
  let trainSource: BatchSource;
  let evalSource: BatchSource;
  if (task) {
    trainSource = new TaskSource(task, o.batchSize, o.seed + 1);
    evalSource = new TaskSource(task, 64, o.seed + 1_000_003);
  } else {
    const split = Math.floor(ids!.length * 0.9);
    const heldOut = ids!.length - split > seqLen + 1;
    trainSource = new TextSource(
      heldOut ? ids!.subarray(0, split) : ids!,
      seqLen,
      o.batchSize,
      o.seed + 1,
    );
    evalSource = new TextSource(
      heldOut ? ids!.subarray(split) : ids!,
      seqLen,
      16,
      o.seed + 1_000_003,
    );
  }
  const trainer = new Trainer(model, trainSource, { steps: o.steps, lr: o.lr, rngs: [modelRng] });
  const info: RunInfo = {
    preset: opts.config ? undefined : o.preset,
    task: task?.name,
    taskOptions: task?.options,
    data: opts.data,
    seqLen,
    batchSize: o.batchSize,
    lr: o.lr,
    steps: o.steps,
    seed: o.seed,
  };
  const checkpointDir = path.join(runDir, 'checkpoint');
  try {
    if (resuming) {
      if (!fs.existsSync(checkpointDir))
        throw new CliError(`train: --resume: ${checkpointDir} does not exist`);
      readCheckpointInfo(checkpointDir);
      try {
        loadCheckpoint(checkpointDir, trainer);
      } catch (e) {
        throw new CliError(`train: --resume: ${(e as Error).message}`);
      }
    } else if (exists) {
      fs.rmSync(runDir, { recursive: true, force: true });
    }
    fs.mkdirSync(runDir, { recursive: true });
    const metricsFile = path.join(runDir, 'metrics.jsonl');
    const history = readHistory(metricsFile).filter((h) => h.step <= trainer.step);
    fs.writeFileSync(metricsFile, history.map((h) => JSON.stringify(h) + '\n').join(''));
    const say = (text: string) => (o.json ? undefined : io.out(text));
    say(
      `training ${o.preset} on ${source} for ${o.steps} steps (backend ${backend}, ${model.numParams()} parameters) -> ${runDir}`,
    );
    const bar = io.isTTY && !o.json ? new ProgressBar(o.steps, io.errStream) : undefined;
    const stop = opts.stopSignal ?? { stop: false };
    let tokens = 0;
    const loopStart = Date.now();
    while (trainer.step < o.steps && !stop.stop) {
      const m = trainer.trainStep();
      tokens += m.tokens;
      const line = { step: m.step, loss: m.loss, lr: m.lr, gradNorm: m.gradNorm, ...m.aux };
      history.push({ step: m.step, loss: m.loss });
      fs.appendFileSync(metricsFile, JSON.stringify(line) + '\n');
      const tps = tokens / ((Date.now() - loopStart) / 1000);
      if (o.json)
        io.out(JSON.stringify({ event: 'step', ...line, tokensPerSecond: Math.round(tps) }));
      bar?.update(m.step, { loss: m.loss, tokensPerSecond: tps });
      if (o.checkpointEvery && m.step % o.checkpointEvery === 0)
        saveCheckpoint(checkpointDir, trainer, { info });
    }
    bar?.finish();
    saveCheckpoint(checkpointDir, trainer, { info });
    saveRunFiles(runDir, model, tokenizer, info);
    fs.writeFileSync(path.join(runDir, 'loss.svg'), lossSvg(history));
    const interrupted = trainer.step < o.steps;
    const ev = trainer.evaluate(evalSource, task ? 4 : 2);
    const sample = await sampleText(model, tokenizer, task, o.seed);
    const seconds = (Date.now() - started) / 1000;
    const result: TrainResult = {
      runDir,
      steps: trainer.step,
      accuracy: task ? ev.accuracy : undefined,
      evalLoss: ev.loss,
      seconds,
      interrupted,
      sample,
    };
    if (o.json) io.out(JSON.stringify({ event: 'done', ...result }));
    else {
      if (interrupted)
        say(
          `interrupted at step ${trainer.step}: checkpoint written to ${checkpointDir}; continue with --resume`,
        );
      if (task)
        say(
          `${task.name} accuracy on answer positions: ${ev.accuracy.toFixed(3)} (eval loss ${ev.loss.toFixed(4)})`,
        );
      else say(`eval loss: ${ev.loss.toFixed(4)}`);
      say(`sample: ${sample}`);
      say(`saved ${runDir} in ${seconds.toFixed(1)} s`);
    }
    return result;
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function readDataFile(file: string): string {
  if (!fs.existsSync(file)) throw new CliError(`train: --data ${file} does not exist`);
  if (!fs.statSync(file).isFile()) throw new CliError(`train: --data ${file} is not a file`);
  const text = fs.readFileSync(file, 'utf8');
  if (text.length === 0) throw new CliError(`train: --data ${file} is empty`);
  return text;
}

function readHistory(file: string): { step: number; loss: number }[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { step: number; loss: number });
}

/** A task example's prompt with the model's greedy answers, or a short text continuation. */
async function sampleText(
  model: DecoderLM,
  tokenizer: Tokenizer,
  task: SyntheticTask | undefined,
  seed: number,
): Promise<string> {
  if (task) {
    const { tokens, answers } = task.sample(new Rng(seed + 77));
    const prompt = tokens.slice(0, answers[0]!);
    const out = await generate(model, prompt, { maxTokens: 1, temperature: 0 });
    return `prompt [${prompt.join(' ')}] -> ${out[0]} (expected ${tokens[answers[0]!]})`;
  }
  const out = await generate(model, [0], {
    maxTokens: Math.min(80, model.config.maxLength - 1),
    temperature: 0.8,
    seed,
  });
  return JSON.stringify(tokenizer.decode([0, ...out]));
}
