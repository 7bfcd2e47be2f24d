import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateConfig } from '@attnkit/core';
import { getPreset } from '../presets';
import type { PresetConfig } from '../presets';
import { createBatchTask, createImageTask, createTask, listTasks, taskKind } from '../tasks';
import type { BatchTask, ImageTask, SyntheticTask, TaskKind } from '../tasks';
import { CharTokenizer, IdTokenizer, TOKENIZER_FILE, TokenizerError } from '../tokenizers';
import type { Tokenizer } from '../tokenizers';
import type { NumberRule } from './args';
import { COUNT, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, checkArg } from './args';
import { CliError } from './errors';
import type { RunInfo } from './run-files';
import {
  checkRunVocab,
  readJson,
  readRunInfo,
  readRunTokenizer,
  readTokenizerFile,
} from './run-files';

export interface TrainOptions {
  preset?: string;
  config?: string;
  task?: string;
  data?: string;
  /**
   * The tokenizer of `data`: a tokenizer.json (Hugging Face's or attnkit's) or a directory holding
   * one (with its tokenizer_config.json); default a character tokenizer trained on the data.
   */
  tokenizer?: string;
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
  weightDecay?: number;
  schedule?: 'cosine' | 'wsd';
  warmup?: number;
  /** Initializer of every Linear weight (core init spec), or 'blocks' for the blocks' own. */
  linearInit?: string | Record<string, unknown>;
  /** Initializer of a decoder LM's token embedding (core init spec), or 'table' for N(0, 0.02²). */
  embeddingInit?: string | Record<string, unknown>;
  json?: boolean;
  checkpointEvery?: number;
  /** Set by the SIGINT handler (or a test): finish the step, checkpoint, stop. */
  stopSignal?: { stop: boolean };
}

/** PyTorch's nn.Linear default, U(±1/√fanIn) (He et al. 2015 with a = √5). */
export const TORCH_LINEAR_INIT = { name: 'kaiming-uniform', gain: Math.sqrt(1 / 3) };

/**
 * N(0, 1) token embeddings, as PyTorch's nn.Embedding: small decoder LMs leave the MQAR recall
 * plateau far sooner than from GPT-2's N(0, 0.02²) (models README, `npm start` figures).
 */
export const UNIT_EMBEDDING_INIT = { name: 'normal', std: 1 };

/**
 * Defaults of `attnkit train` with no arguments: llama-tiny on MQAR (see the README figures).
 * Small models learn in-context recall only after a long plateau; no weight decay, a constant
 * rate until the last 20% (wsd) and PyTorch's Linear init shorten it the most (README).
 */
export const TRAIN_DEFAULTS = {
  preset: 'llama-tiny',
  task: 'mqar',
  steps: 2500,
  batchSize: 32,
  lr: 3e-3,
  seqLen: 64,
  seed: 0,
  weightDecay: 0,
  schedule: 'wsd' as 'cosine' | 'wsd',
  warmup: 100,
  linearInit: TORCH_LINEAR_INIT as string | Record<string, unknown>,
  embeddingInit: UNIT_EMBEDDING_INIT as string | Record<string, unknown>,
  checkpointEvery: 500,
  out: 'runs',
};

/**
 * Default steps by kind of task: MQAR's recall needs thousands (TRAIN_DEFAULTS.steps); the
 * encoder, encoder-decoder and image tasks are learned in hundreds (models README figures).
 */
export const TASK_STEPS: Record<TaskKind, number> = {
  tokens: TRAIN_DEFAULTS.steps,
  image: 100,
  classes: 150,
  masked: 600,
  seq2seq: 500,
};

/** Choices of the string options. */
export const TRAIN_CHOICES = { schedule: ['cosine', 'wsd'] as const };

/** `--top-p` of generate: a probability mass in (0, 1]. */
export const TOP_P: NumberRule = { min: 0, minExclusive: true, max: 1 };

/** The numeric options of `attnkit train` and their rules (the CLI parsers use the same). */
const TRAIN_RULES: [keyof TrainOptions, string, NumberRule][] = [
  ['steps', 'steps', COUNT],
  ['batchSize', 'batch-size', COUNT],
  ['lr', 'lr', POSITIVE],
  ['seqLen', 'seq-len', COUNT],
  ['seed', 'seed', NON_NEGATIVE_INT],
  ['weightDecay', 'weight-decay', NON_NEGATIVE],
  ['warmup', 'warmup', NON_NEGATIVE_INT],
  ['checkpointEvery', 'checkpoint-every', NON_NEGATIVE_INT],
];

/** Every option of a programmatic call checked as the command line checks it. */
function checkTrainOptions(opts: TrainOptions): void {
  for (const [key, flag, rule] of TRAIN_RULES) checkArg('train', flag, opts[key], rule);
  const { schedule } = opts;
  if (schedule !== undefined && !TRAIN_CHOICES.schedule.includes(schedule))
    throw new CliError(
      `train: --schedule expected one of ${TRAIN_CHOICES.schedule.join(', ')}, got '${String(schedule)}'`,
    );
}

/** Everything a training run needs, resolved and checked before any file or tensor is made. */
export interface TrainPlan {
  runDir: string;
  /** The run directory holds an earlier run: resume it (true) or replace it (false). */
  resuming: boolean;
  replacing: boolean;
  config: PresetConfig;
  /** Absent for image runs (a vit reads pixels). */
  tokenizer?: Tokenizer;
  task?: SyntheticTask;
  /** The image task a vit trains on (then `task` and `ids` are absent). */
  imageTask?: ImageTask;
  /** The task an encoder or encoder-decoder trains on (then `task` and `ids` are absent). */
  batchTask?: BatchTask;
  ids?: Int32Array;
  info: RunInfo;
  label: string;
}

/**
 * The run directory name. Given `--name`, it is used as is. Otherwise `<model>-<task or data>`;
 * when that directory holds a run and neither --overwrite nor --resume is given, the first free
 * `-2`, `-3`, ... is taken instead, so running `npm start` twice keeps both runs.
 */
export function runName(out: string, base: string, keepBase: boolean): string {
  if (keepBase) return base;
  let name = base;
  for (let i = 2; holdsRun(path.join(out, name)); i++) name = `${base}-${i}`;
  return name;
}

function holdsRun(dir: string): boolean {
  return fs.existsSync(dir) && (!fs.statSync(dir).isDirectory() || fs.readdirSync(dir).length > 0);
}

const stem = (file: string) => path.basename(file).replace(/\.[^.]*$/, '');

/** Resolves `opts` into a plan; every user mistake is a CliError and nothing is written. */
export function planTraining(opts: TrainOptions): TrainPlan {
  checkTrainOptions(opts);
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  const o = { ...TRAIN_DEFAULTS, ...defined } as typeof TRAIN_DEFAULTS & TrainOptions;
  if (opts.data !== undefined && opts.task !== undefined)
    throw new CliError('train: give --task or --data, not both');
  if (opts.config !== undefined && opts.preset !== undefined)
    throw new CliError('train: give --preset or --config, not both');
  if (o.resume && o.overwrite) throw new CliError('train: give --resume or --overwrite, not both');
  if (opts.tokenizer !== undefined && o.resume)
    throw new CliError("train: --resume keeps the run's own tokenizer; leave out --tokenizer");
  if (opts.tokenizer !== undefined && opts.data === undefined)
    throw new CliError(
      'train: --tokenizer tokenizes the text of --data; a task has its own token ids',
    );

  // A vit's default task is the first image task: the model's type comes first (the run name).
  const config = o.resume ? undefined : modelConfig(o);
  const typed = config ?? (o.config === undefined ? getPreset(o.preset) : undefined);
  const type = (typed as { type?: unknown } | null | undefined)?.type; // validated below
  o.task = opts.task ?? (opts.data ? TRAIN_DEFAULTS.task : defaultTask(typed));
  if (opts.data === undefined && !o.resume) {
    // Each kind of task has its own length of a default run (README: under a minute of CPU).
    o.steps = opts.steps ?? TASK_STEPS[taskKind(o.task)];
    o.warmup = opts.warmup ?? Math.min(TRAIN_DEFAULTS.warmup, Math.floor(o.steps / 10));
  }
  const base =
    o.name ??
    `${opts.config ? stem(opts.config) : o.preset}-${opts.data ? stem(opts.data) : o.task}`;
  if (!/^[A-Za-z0-9._-]+$/.test(base))
    throw new CliError(`train: --name expected letters, digits, '.', '_' or '-', got '${base}'`);
  const name = runName(o.out, base, opts.name !== undefined || Boolean(o.resume || o.overwrite));
  const runDir = path.join(o.out, name);
  if (fs.existsSync(runDir) && !fs.statSync(runDir).isDirectory())
    throw new CliError(`train: ${runDir} exists and is not a directory`);
  const exists = holdsRun(runDir);
  if (exists && !o.resume && !o.overwrite) {
    throw new CliError(
      `train: run directory ${runDir} exists; pass --resume to continue it or --overwrite to replace it`,
    );
  }
  if (o.resume && !exists) throw new CliError(`train: --resume given but ${runDir} does not exist`);
  if (!config) return planResume(o, opts.steps, runDir);
  const what = o.config !== undefined ? `--config ${o.config}` : `preset '${o.preset}'`;
  checkModelType(config, what);
  if (type === 'vit') return planImage(o, config, what, runDir, exists);
  if (type === 'encoder' || type === 'encoder-decoder')
    return planBatchTask(o, config, what, runDir, exists);
  return planFresh(o, config, what, runDir, exists);
}

const tasksOf = (kind: TaskKind) => listTasks().filter((t) => taskKind(t) === kind);

/**
 * The task a model trains on without --task: MQAR for a decoder LM, the first image task for a
 * vit, the first seq2seq task for an encoder-decoder; for an encoder the first classification
 * task, or the first masked-LM task when it has an mlmHead and no numClasses.
 */
function defaultTask(config: unknown): string {
  const c = (config ?? {}) as { type?: unknown; mlmHead?: unknown; numClasses?: unknown };
  if (c.type === 'vit') return tasksOf('image')[0]!;
  if (c.type === 'encoder-decoder') return tasksOf('seq2seq')[0]!;
  if (c.type === 'encoder')
    return tasksOf(c.mlmHead && c.numClasses === undefined ? 'masked' : 'classes')[0]!;
  return TRAIN_DEFAULTS.task;
}

/** The task kinds each trainable model type trains on. */
const MODEL_TASKS: Record<string, TaskKind[]> = {
  'decoder-lm': ['tokens'],
  vit: ['image'],
  encoder: ['classes', 'masked'],
  'encoder-decoder': ['seq2seq'],
};

const KIND_WORDS: Record<TaskKind, string> = {
  tokens: 'a token',
  image: 'an image',
  classes: 'a classification',
  masked: 'a masked-LM',
  seq2seq: 'a seq2seq',
};

/** `train: task 'x' is an image task and <what> is a 'decoder-lm' model; it trains on ...`. */
function wrongTask(name: string, what: string, type: string): CliError {
  const fits = MODEL_TASKS[type]!.map((k) => `${KIND_WORDS[k]} task (${tasksOf(k).join(', ')})`);
  const data = type === 'decoder-lm' ? ' or --data' : '';
  return new CliError(
    `train: task '${name}' is ${KIND_WORDS[taskKind(name)]} task and ${what} is a '${type}' model; it trains on ${fits.join(' or ')}${data}`,
  );
}

/**
 * An encoder on a masked-LM or classification task, or an encoder-decoder on a seq2seq task.
 * The task decides the vocabulary, maxLength and the head: numClasses for classification, an
 * mlmHead (BERT's, default settings) for masked-LM when the config has none.
 */
function planBatchTask(
  o: typeof TRAIN_DEFAULTS & TrainOptions,
  config: PresetConfig,
  what: string,
  runDir: string,
  replacing: boolean,
): TrainPlan {
  const type = String(config.type);
  if (o.data !== undefined) {
    throw new CliError(
      `train: --data ${o.data} is text and ${what} is a '${type}' model; it trains on a task (${MODEL_TASKS[
        type
      ]!.flatMap(tasksOf).join(', ')})`,
    );
  }
  if (!MODEL_TASKS[type]!.includes(taskKind(o.task))) throw wrongTask(o.task, what, type);
  const batchTask = createBatchTask(o.task);
  config.vocabSize = batchTask.vocabSize;
  config.maxLength = batchTask.seqLen;
  if (batchTask.kind === 'classes') config.numClasses = batchTask.numClasses;
  if (batchTask.kind === 'masked' && config.mlmHead === undefined) config.mlmHead = {};
  applyInits(o, config);
  validateConfig(config);
  const info = runInfo(o, batchTask.seqLen, batchTask.name, batchTask.options);
  const label = o.config !== undefined ? stem(o.config) : o.preset;
  const tokenizer = new IdTokenizer(batchTask.vocabSize);
  return { runDir, resuming: false, replacing, config, tokenizer, batchTask, info, label };
}

/** The initializers `train` applies where the config sets none (see TRAIN_DEFAULTS). */
function applyInits(o: typeof TRAIN_DEFAULTS & TrainOptions, config: PresetConfig): void {
  if (config.linearInit === undefined && o.linearInit !== 'blocks')
    config.linearInit = o.linearInit;
  if (
    config.type === 'decoder-lm' &&
    config.embeddingInit === undefined &&
    o.embeddingInit !== 'table'
  )
    config.embeddingInit = o.embeddingInit;
}

function runInfo(
  o: typeof TRAIN_DEFAULTS & TrainOptions,
  seqLen: number,
  task: string | undefined,
  taskOptions: Record<string, number> | undefined,
): RunInfo {
  return {
    preset: o.config !== undefined ? undefined : o.preset,
    task,
    taskOptions,
    data: o.data,
    tokenizer: o.tokenizer,
    seqLen,
    batchSize: o.batchSize,
    lr: o.lr,
    steps: o.steps,
    seed: o.seed,
    weightDecay: o.weightDecay,
    schedule: o.schedule,
    warmupSteps: o.warmup,
  };
}

function modelConfig(o: TrainOptions & typeof TRAIN_DEFAULTS): PresetConfig {
  return o.config !== undefined
    ? (readJson(o.config, 'config') as PresetConfig)
    : getPreset(o.preset);
}

const imageTasks = () => tasksOf('image');

function planFresh(
  o: typeof TRAIN_DEFAULTS & TrainOptions,
  config: PresetConfig,
  what: string,
  runDir: string,
  replacing: boolean,
): TrainPlan {
  let tokenizer: Tokenizer;
  let task: SyntheticTask | undefined;
  let ids: Int32Array | undefined;
  if (o.data === undefined && taskKind(o.task) !== 'tokens')
    throw wrongTask(o.task, what, 'decoder-lm');
  if (o.data !== undefined) {
    const text = readDataFile(o.data);
    tokenizer =
      o.tokenizer !== undefined ? readTokenizerOption(o.tokenizer) : CharTokenizer.train(text);
    ids = encodeData(tokenizer, text, o.data);
  } else {
    task = createTask(o.task);
    tokenizer = new IdTokenizer(task.vocabSize);
  }
  const seqLen = task ? task.seqLen : o.seqLen;
  // The data decides these two: the tokenizer's vocabulary and the training window.
  config.vocabSize = tokenizer.vocabSize;
  config.maxLength = seqLen;
  applyInits(o, config);
  validateConfig(config);
  const info = runInfo(o, seqLen, task?.name, task?.options);
  const label = o.config !== undefined ? stem(o.config) : o.preset;
  return { runDir, resuming: false, replacing, config, tokenizer, task, ids, info, label };
}

/** A vit on an image task (default the first registered, `shapes`), sized by the model. */
function planImage(
  o: typeof TRAIN_DEFAULTS & TrainOptions,
  config: PresetConfig,
  what: string,
  runDir: string,
  replacing: boolean,
): TrainPlan {
  const images = imageTasks().join(', ');
  if (o.data !== undefined) {
    throw new CliError(
      `train: --data ${o.data} is text and ${what} is a 'vit' model; a vit trains on an image task (${images})`,
    );
  }
  const name = o.task;
  if (taskKind(name) !== 'image') throw wrongTask(name, what, 'vit');
  const c = config as unknown as {
    imageSize: number;
    patchSize: number;
    channels?: number;
    numClasses?: number;
  };
  const imageTask = createImageTask(name, {
    imageSize: c.imageSize,
    channels: c.channels ?? 3,
    numClasses: c.numClasses ?? 10,
  });
  // The task decides the classes, as a token task decides the vocabulary.
  config.numClasses = imageTask.numClasses;
  applyInits(o, config);
  validateConfig(config);
  const info = runInfo(o, (c.imageSize / c.patchSize) ** 2, imageTask.name, imageTask.options);
  const label = o.config !== undefined ? stem(o.config) : o.preset;
  return { runDir, resuming: false, replacing, config, imageTask, info, label };
}

/** A resumed run keeps its own model, tokenizer, data order and hyperparameters; --steps may grow. */
function planResume(
  o: typeof TRAIN_DEFAULTS & TrainOptions,
  steps: number | undefined,
  runDir: string,
): TrainPlan {
  const { result: _done, ...saved } = readRunInfo(path.join(runDir, 'run.json'));
  const config = readJson(path.join(runDir, 'config.json'), 'run config') as PresetConfig;
  const label = saved.preset ?? String(config?.type);
  if (config?.type === 'vit') {
    if (o.data !== undefined)
      throw new CliError(`train: --resume: ${runDir} is a 'vit' run, not trained on --data`);
    const imageTask = createImageTask(saved.task ?? imageTasks()[0]!, saved.taskOptions);
    const info: RunInfo = { ...saved, steps: steps ?? saved.steps };
    return { runDir, resuming: true, replacing: false, config, imageTask, info, label };
  }
  const tokenizer = readRunTokenizer(runDir);
  checkRunVocab(runDir, tokenizer, (config as { vocabSize?: unknown } | null)?.vocabSize);
  if (config?.type === 'encoder' || config?.type === 'encoder-decoder') {
    if (o.data !== undefined || saved.task === undefined)
      throw new CliError(`train: --resume: ${runDir} is a '${config.type}' run, trained on a task`);
    const batchTask = createBatchTask(saved.task, saved.taskOptions);
    const info: RunInfo = { ...saved, steps: steps ?? saved.steps };
    return { runDir, resuming: true, replacing: false, config, tokenizer, batchTask, info, label };
  }
  let task: SyntheticTask | undefined;
  let ids: Int32Array | undefined;
  const data = o.data ?? saved.data;
  if (saved.task !== undefined && o.data !== undefined)
    throw new CliError(`train: --resume: ${runDir} trained on task ${saved.task}, not --data`);
  if (data !== undefined) {
    ids = encodeData(tokenizer, readDataFile(data), data);
  } else {
    task = createTask(saved.task ?? 'mqar', saved.taskOptions);
  }
  const info: RunInfo = { ...saved, data, steps: steps ?? saved.steps };
  return { runDir, resuming: true, replacing: false, config, tokenizer, task, ids, info, label };
}

/** The fields the data decides (help of --config): a config may leave them out. */
const DATA_FIELDS: Record<string, string[]> = {
  'decoder-lm': ['vocabSize', 'maxLength'],
  encoder: ['vocabSize', 'maxLength'],
  'encoder-decoder': ['vocabSize', 'maxLength'],
  vit: ['numClasses'],
};

/** A size that passes the cross-field checks (windows, blocks) until the data sets it. */
const PLACEHOLDER = 1024;

function checkModelType(config: PresetConfig, what: string): void {
  const type = (config as { type?: unknown } | null)?.type;
  const trainable = typeof type === 'string' && type in DATA_FIELDS;
  // Checked with placeholders where the data decides (planFresh/planImage set them and check
  // again): a bad field is a ConfigError naming its JSON path, an unknown type names the known.
  const filled = trainable
    ? { ...Object.fromEntries(DATA_FIELDS[type]!.map((k) => [k, PLACEHOLDER])), ...config }
    : config;
  validateConfig(filled);
  if (!trainable) {
    throw new CliError(
      `train: ${what} is a '${String(type)}' model; attnkit train trains models of type ${Object.keys(
        DATA_FIELDS,
      )
        .map((t) => `'${t}'`)
        .join(', ')}`,
    );
  }
}

/**
 * `--tokenizer`: a tokenizer.json file or a directory holding one; a Hugging Face tokenizer.json
 * takes the tokenizer_config.json beside it (special tokens) when it is named tokenizer.json.
 */
function readTokenizerOption(where: string): Tokenizer {
  if (!fs.existsSync(where)) throw new CliError(`train: --tokenizer ${where} does not exist`);
  const isDir = fs.statSync(where).isDirectory();
  const file = isDir ? path.join(where, TOKENIZER_FILE) : where;
  if (isDir && !fs.existsSync(file))
    throw new CliError(`train: --tokenizer ${where} holds no ${TOKENIZER_FILE}`);
  try {
    return readTokenizerFile(file, 'train: --tokenizer', path.basename(file) === TOKENIZER_FILE);
  } catch (e) {
    if (e instanceof TokenizerError) throw new CliError(`train: --tokenizer ${file}: ${e.message}`);
    throw e;
  }
}

/** The token ids of a text file, as `eval` and `generate` encode text with the same tokenizer. */
function encodeData(tokenizer: Tokenizer, text: string, file: string): Int32Array {
  let ids: number[];
  try {
    ids = tokenizer.encode(text);
  } catch (e) {
    throw new CliError(`train: --data ${file}: ${(e as Error).message}`);
  }
  return Int32Array.from(ids);
}

function readDataFile(file: string): string {
  if (!fs.existsSync(file)) throw new CliError(`train: --data ${file} does not exist`);
  if (!fs.statSync(file).isFile()) throw new CliError(`train: --data ${file} is not a file`);
  const text = fs.readFileSync(file, 'utf8');
  if (text.length === 0) throw new CliError(`train: --data ${file} is empty`);
  return text;
}
