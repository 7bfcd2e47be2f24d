import * as fs from 'node:fs';
import { Rng, build } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import { generateStream } from '../generation/generate';
import { generateSeq2Seq } from '../generation/seq2seq';
import { getPreset, listPresets } from '../presets';
import { createBatchTask, createImageTask, createTask, taskKind } from '../tasks';
import type { BatchSource } from '../training/data';
import { BatchTaskSource, ImageSource, TaskSource, TextSource } from '../training/data';
import type { TrainableModel } from '../training/objective';
import { Trainer } from '../training/trainer';
import { selectBackend } from './backend';
import { CliError } from './errors';
import type { Io } from './io';
import { loadRun, loadTextModel, readJson } from './run-files';
import type { LoadedRun } from './run-files';
import { HfTokenizer, TextStream } from '../tokenizers';

export interface GenerateCliOptions {
  run: string;
  prompt?: string;
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
  stop?: string[];
  backend?: string;
  json?: boolean;
}

/** Streams a continuation of `--prompt` from a saved run, token by token. */
export async function generateCommand(
  o: GenerateCliOptions,
  io: Io,
  write: (s: string) => unknown = (s) => process.stdout.write(s),
): Promise<string> {
  await selectBackend(o.backend, o.json);
  const run = await loadTextModel(o.run);
  if (run.kind === 'image' || run.kind === 'encoder') {
    run.model.dispose();
    const what =
      run.kind === 'image'
        ? "a 'vit' image classifier"
        : "an 'encoder' (bidirectional: it fills in or classifies, it does not continue text)";
    throw new CliError(
      `generate: ${o.run} is ${what}; generate decodes decoder LMs and encoder-decoders (see attnkit eval)`,
    );
  }
  if (run.kind === 'seq2seq') return generateFromSource(o, run, io, write);
  const { model, tokenizer } = run;
  try {
    let prompt: number[];
    let stops: number[];
    try {
      prompt = tokenizer.encode(o.prompt ?? (tokenizer.kind === 'ids' ? '1' : '\n'));
      // Stop strings without the special tokens a Hugging Face tokenizer adds; its eos stops too.
      stops = (o.stop ?? []).flatMap((s) =>
        tokenizer instanceof HfTokenizer
          ? tokenizer.encode(s, { addSpecialTokens: false })
          : tokenizer.encode(s),
      );
      const eos =
        tokenizer instanceof HfTokenizer ? tokenizer.specialToken('eos_token') : undefined;
      if (eos) stops.push(eos.id);
    } catch (e) {
      throw new CliError(`generate: ${(e as Error).message}`);
    }
    // Pieces of complete text: a character split across tokens is shown once it is whole.
    const stream = new TextStream(tokenizer, tokenizer.kind === 'ids' ? [] : prompt);
    let shown = '';
    const show = (id: number | undefined, piece: string) => {
      if (o.json) {
        if (id !== undefined || piece) io.out(JSON.stringify({ event: 'token', id, text: piece }));
      } else write(tokenizer.kind === 'ids' ? (id === undefined ? '' : `${id} `) : piece);
      shown += piece;
    };
    for await (const id of generateStream(model, prompt, {
      maxTokens: o.maxTokens ?? 100,
      temperature: o.temperature,
      topK: o.topK,
      topP: o.topP,
      repetitionPenalty: o.repetitionPenalty,
      seed: o.seed,
      stopTokens: stops,
    })) {
      show(id, stream.push(id));
    }
    show(undefined, stream.flush());
    if (o.json) io.out(JSON.stringify({ event: 'done', text: shown }));
    else write('\n');
    return shown;
  } finally {
    model.dispose();
  }
}

/** An encoder-decoder run: `--prompt` is the source; the target is decoded greedily. */
function generateFromSource(
  o: GenerateCliOptions,
  run: Extract<LoadedRun, { kind: 'seq2seq' }>,
  io: Io,
  write: (s: string) => unknown,
): string {
  const { model, tokenizer, info } = run;
  try {
    const sampling = { temperature: o.temperature, topK: o.topK, topP: o.topP };
    const given = Object.entries(sampling).filter(
      ([k, v]) => v !== undefined && !(k === 'temperature' && v === 0),
    );
    if (given.length > 0 || o.repetitionPenalty !== undefined)
      throw new CliError(
        `generate: ${o.run} is an 'encoder-decoder' run, decoded greedily; sampling options (--temperature, --top-k, --top-p, --repetition-penalty) apply to decoder LMs`,
      );
    if (o.prompt === undefined)
      throw new CliError(
        `generate: ${o.run} is an 'encoder-decoder' run; give the source as --prompt`,
      );
    let source: number[];
    let stops: number[];
    try {
      source = tokenizer.encode(o.prompt);
      stops = (o.stop ?? []).flatMap((s) => tokenizer.encode(s));
    } catch (e) {
      throw new CliError(`generate: ${(e as Error).message}`);
    }
    const limit = model.config.maxLength;
    if (source.length === 0 || source.length > limit)
      throw new CliError(
        `generate: --prompt expected 1 to ${limit} source tokens (the model's maxLength), got ${source.length}`,
      );
    const task = info.task ? createBatchTask(info.task, info.taskOptions) : undefined;
    const bos = task?.kind === 'seq2seq' ? task.bos : 1;
    const ids = generateSeq2Seq(model, source, { bos, maxTokens: o.maxTokens, stopTokens: stops });
    const text = tokenizer.decode(ids);
    if (o.json) io.out(JSON.stringify({ event: 'done', ids, text }));
    else write(`${tokenizer.kind === 'ids' ? ids.join(' ') : text}\n`);
    return text;
  } finally {
    model.dispose();
  }
}

export interface EvalCliOptions {
  run: string;
  data?: string;
  batches?: number;
  seed?: number;
  backend?: string;
  json?: boolean;
}

export interface EvalResult {
  /** Mean cross-entropy, in `unit`. */
  loss: number;
  unit: 'nats/token' | 'nats/example';
  /** `exp(loss)`, for token models. */
  perplexity?: number;
  /** Answer-position accuracy (tasks) or class accuracy (images). */
  accuracy?: number;
}

/** `loss 1.2345 nats/token  perplexity 3.44  accuracy 0.950` */
export function formatEval(r: EvalResult): string {
  const parts = [`loss ${r.loss.toFixed(4)} ${r.unit}`];
  if (r.perplexity !== undefined) parts.push(`perplexity ${r.perplexity.toFixed(2)}`);
  if (r.accuracy !== undefined) parts.push(`accuracy ${r.accuracy.toFixed(3)}`);
  return parts.join('  ');
}

/** Loss (and task accuracy) of a saved run on fresh task examples or on a text file. */
export async function evalCommand(o: EvalCliOptions, io: Io): Promise<EvalResult> {
  await selectBackend(o.backend, o.json);
  const run = await loadRun(o.run);
  const { model, tokenizer, info } = run;
  try {
    const seed = o.seed ?? 12345;
    let source: BatchSource;
    const isTask = run.kind !== 'lm' || (!o.data && info.task);
    if (run.kind === 'encoder' || run.kind === 'seq2seq') {
      if (o.data || !info.task)
        throw new CliError(
          `eval: ${o.run} is an '${run.model.config.type}' run on task examples; --data (text) does not apply`,
        );
      source = new BatchTaskSource(createBatchTask(info.task, info.taskOptions), 64, seed);
    } else if (run.kind === 'image') {
      if (o.data)
        throw new CliError(`eval: ${o.run} is a 'vit' run on images; --data (text) does not apply`);
      source = new ImageSource(createImageTask(info.task ?? 'shapes', info.taskOptions), 64, seed);
    } else if (isTask) {
      source = new TaskSource(createTask(info.task!, info.taskOptions), 64, seed);
    } else {
      const file = o.data ?? info.data;
      if (!file || !fs.existsSync(file))
        throw new CliError(`eval: data file ${file ?? '(none)'} does not exist; pass --data`);
      let ids: number[];
      try {
        ids = tokenizer!.encode(fs.readFileSync(file, 'utf8'));
      } catch (e) {
        throw new CliError(`eval: ${file}: ${(e as Error).message}`);
      }
      source = new TextSource(Int32Array.from(ids), info.seqLen, 16, seed);
    }
    const trainer = new Trainer<TrainableModel>(model, source, { steps: 1 });
    const ev = trainer.evaluate(source, o.batches ?? 4);
    trainer.dispose();
    // Cross-entropy in nats per predicted token, or per example for a classifier (a vit, an
    // encoder on a classification task); perplexity = e^loss for tokens.
    const perExample =
      run.kind === 'image' || (run.kind === 'encoder' && taskKind(info.task!) === 'classes');
    const unit = perExample ? 'nats/example' : 'nats/token';
    const result: EvalResult = { loss: ev.loss, unit };
    if (!perExample) result.perplexity = Math.exp(ev.loss);
    if (isTask) result.accuracy = ev.accuracy;
    io.out(o.json ? JSON.stringify(result) : formatEval(result));
    return result;
  } finally {
    model.dispose();
  }
}

export interface InfoOptions {
  preset?: string;
  config?: string;
  run?: string;
  json?: boolean;
}

export interface ModelInfo {
  type: string;
  parameters: number;
  perModule: Record<string, number>;
  flopsPerToken: number;
}

/** Parameter tables looked up, not multiplied, per token. */
const LOOKUP_TABLES = ['embed', 'positional', 'encoderPositional', 'decoderPositional'];

/**
 * Parameter count per top-level module and a forward FLOPs-per-token estimate after Kaplan et
 * al. 2020, Table 1: `2 N` for the N weights a token is multiplied by (embedding and position
 * tables excluded, a tied output head included) plus `2 · layers · context · dModel` for the
 * attention scores and mixing at full context. Dense: a MoE counts all its experts.
 */
export function describeModel(model: Module): ModelInfo {
  const perModule: Record<string, number> = {};
  for (const [name, child] of model.namedChildren()) perModule[name] = child.numParams();
  // The model's own parameters (a ViT's class token) are listed by name.
  for (const [name, v] of model.namedParameters())
    if (!name.includes('.')) perModule[name] = v.size;
  const c = model.config as Record<string, unknown>;
  const num = (key: string) => (typeof c[key] === 'number' ? (c[key] as number) : 0);
  const tables = LOOKUP_TABLES.reduce((n, name) => n + (perModule[name] ?? 0), 0);
  const tiedHead =
    c.tieEmbeddings === true && num('vocabSize') ? num('vocabSize') * num('dModel') : 0;
  const weights = model.numParams() - tables + tiedHead;
  const layers = num('numLayers') || num('encoderLayers') + num('decoderLayers');
  const patches = num('patchSize') ? (num('imageSize') / num('patchSize')) ** 2 + 1 : 0;
  const context = num('maxLength') || patches;
  return {
    type: String(c.type),
    parameters: model.numParams(),
    perModule,
    flopsPerToken: 2 * weights + 2 * layers * context * num('dModel'),
  };
}

export async function infoCommand(o: InfoOptions, io: Io): Promise<ModelInfo> {
  await selectBackend(undefined, true);
  const config = o.run
    ? readJson(`${o.run}/config.json`, 'run config')
    : o.config
      ? readJson(o.config, 'config')
      : getPreset(o.preset ?? 'llama-tiny');
  const model = build(config, { rng: new Rng(0) });
  try {
    const info = describeModel(model);
    if (o.json) io.out(JSON.stringify(info));
    else {
      io.out(
        `${info.type}: ${info.parameters.toLocaleString('en')} parameters, ~${info.flopsPerToken.toLocaleString('en')} FLOPs per token (forward)`,
      );
      for (const [name, n] of Object.entries(info.perModule))
        io.out(`  ${name.padEnd(14)} ${n.toLocaleString('en').padStart(10)}`);
    }
    return info;
  } finally {
    model.dispose();
  }
}

export function presetsCommand(o: { json?: boolean }, io: Io): string[] {
  const names = listPresets();
  for (const name of names) {
    const c = getPreset(name) as Record<string, unknown>;
    const line = { name, type: c.type, dModel: c.dModel, numLayers: c.numLayers };
    io.out(
      o.json
        ? JSON.stringify(line)
        : `${name.padEnd(16)} ${String(c.type).padEnd(16)} dModel ${c.dModel}, ${c.numLayers} layers`,
    );
  }
  return names;
}

export type { DecoderLM };
