import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng, build, parseJson } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';
import type { ViT } from '../assemblies/vit';
import { loadCheckpoint, saveCheckpoint } from '../training/checkpoint';
import type { Tokenizer } from '../tokenizers';
import type { BatchSource } from '../training/data';
import { BatchTaskSource, ImageSource, TaskSource, TextSource } from '../training/data';
import type { TrainableModel } from '../training/objective';
import { Trainer } from '../training/trainer';
import { selectBackend } from './backend';
import { CliError } from './errors';
import type { Io } from './io';
import { lossSvg } from './loss-svg';
import { ProgressBar, formatStatus } from './progress';
import { writeRunSummary, saveRunFiles } from './run-files';
import { sampleBatchTask, sampleImages, sampleText } from './sample';
import { TRAIN_DEFAULTS, planTraining } from './train-plan';
import type { TrainOptions, TrainPlan } from './train-plan';

export { TRAIN_DEFAULTS, runName } from './train-plan';
export type { TrainOptions } from './train-plan';

export interface TrainResult {
  runDir: string;
  steps: number;
  accuracy?: number;
  evalLoss: number;
  /** Wall time of the whole command, and of the training loop alone. */
  seconds: number;
  trainSeconds: number;
  backend: string;
  interrupted: boolean;
  sample: string;
}

type Metrics = { step: number; loss: number } & Record<string, number>;

/**
 * `attnkit train`: plans the run (all input checks, nothing written), builds the model, restores
 * the checkpoint when resuming, trains with a progress display, checkpoints every
 * `checkpointEvery` steps and when stopped, then saves the run files, evaluates and samples.
 */
export async function trainCommand(opts: TrainOptions, io: Io): Promise<TrainResult> {
  const started = Date.now();
  const plan = planTraining(opts);
  const { runDir, info } = plan;
  const backend = await selectBackend(opts.backend, opts.json);
  const modelRng = new Rng(info.seed);
  const model = build<TrainableModel>(plan.config, { rng: modelRng });
  const { train, evaluation } = sources(plan);
  const trainer = new Trainer<TrainableModel>(model, train, {
    steps: info.steps,
    lr: info.lr,
    weightDecay: info.weightDecay,
    schedule: info.schedule,
    warmupSteps: info.warmupSteps,
    rngs: [modelRng],
  });
  const checkpointDir = path.join(runDir, 'checkpoint');
  try {
    if (plan.resuming) {
      try {
        loadCheckpoint(checkpointDir, trainer);
      } catch (e) {
        throw new CliError(`train: --resume: ${(e as Error).message}`);
      }
    } else if (plan.replacing) {
      fs.rmSync(runDir, { recursive: true, force: true });
    }
    fs.mkdirSync(runDir, { recursive: true });
    // Written first, so a run killed before its end can still be resumed from its checkpoint.
    await saveRunFiles(runDir, model, plan.tokenizer, info, { weights: false });
    const say = (text: string) => (opts.json ? undefined : io.out(text));
    const task = plan.task ?? plan.imageTask ?? plan.batchTask;
    say(
      `training ${plan.label} on ${task ? `task ${task.name}` : `data ${info.data}`} ` +
        `for ${info.steps} steps (backend ${backend}, ${model.numParams()} parameters) -> ${runDir}`,
    );
    const history = startMetrics(path.join(runDir, 'metrics.jsonl'), trainer.step);
    const loopStart = Date.now();
    const every = opts.checkpointEvery ?? TRAIN_DEFAULTS.checkpointEvery;
    await trainLoop(trainer, info.steps, history, path.join(runDir, 'metrics.jsonl'), io, {
      json: Boolean(opts.json),
      stop: opts.stopSignal ?? { stop: false },
      checkpoint: async (step) => {
        if (every > 0 && step % every === 0) await saveCheckpoint(checkpointDir, trainer, { info });
      },
    });
    const trainSeconds = (Date.now() - loopStart) / 1000;
    await saveCheckpoint(checkpointDir, trainer, { info });
    await saveRunFiles(runDir, model, plan.tokenizer, info);
    fs.writeFileSync(path.join(runDir, 'loss.svg'), lossSvg(history));
    const interrupted = trainer.step < info.steps;
    const ev = trainer.evaluate(evaluation, task ? 4 : 8);
    const sample = plan.imageTask
      ? sampleImages(model as ViT, plan.imageTask, info.seed)
      : plan.batchTask
        ? sampleBatchTask(model, plan.batchTask, info.seed)
        : await sampleText(
            model as DecoderLM,
            plan.tokenizer!,
            plan.task,
            info.seed,
            plan.ids?.[0],
          );
    const result: TrainResult = {
      runDir,
      steps: trainer.step,
      accuracy: task ? ev.accuracy : undefined,
      evalLoss: ev.loss,
      seconds: (Date.now() - started) / 1000,
      trainSeconds,
      backend,
      interrupted,
      sample,
    };
    writeRunSummary(runDir, { ...result, runDir: undefined });
    if (opts.json) io.out(JSON.stringify({ event: 'done', ...result }));
    else report(result, plan, model, checkpointDir, say);
    return result;
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

function sources(plan: TrainPlan): { train: BatchSource; evaluation: BatchSource } {
  const { info, task, ids, imageTask, batchTask } = plan;
  if (batchTask) {
    return {
      train: new BatchTaskSource(batchTask, info.batchSize, info.seed + 1),
      evaluation: new BatchTaskSource(batchTask, 64, info.seed + 1_000_003),
    };
  }
  if (imageTask) {
    return {
      train: new ImageSource(imageTask, info.batchSize, info.seed + 1),
      evaluation: new ImageSource(imageTask, 32, info.seed + 1_000_003), // 128 images
    };
  }
  if (task) {
    return {
      train: new TaskSource(task, info.batchSize, info.seed + 1),
      evaluation: new TaskSource(task, 64, info.seed + 1_000_003),
    };
  }
  // The last 10% of the text is held out for evaluation when it fits a window.
  const split = Math.floor(ids!.length * 0.9);
  const heldOut = ids!.length - split > info.seqLen + 1;
  return {
    train: new TextSource(
      heldOut ? ids!.subarray(0, split) : ids!,
      info.seqLen,
      info.batchSize,
      info.seed + 1,
    ),
    evaluation: new TextSource(
      heldOut ? ids!.subarray(split) : ids!,
      info.seqLen,
      16,
      info.seed + 1_000_003,
    ),
  };
}

/**
 * Keeps the metrics of steps up to `step` (a resumed run drops what came after its checkpoint);
 * a damaged line (a kill mid-write, an edit) is dropped, not fatal: metrics are a record only.
 */
function startMetrics(file: string, step: number): Metrics[] {
  const kept = fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line) => {
          const m = metricsLine(line);
          return m && m.step <= step ? [m] : [];
        })
    : [];
  fs.writeFileSync(file, kept.map((m) => JSON.stringify(m) + '\n').join(''));
  return kept;
}

/** One metrics.jsonl line: an object with a non-negative integer step, else undefined. */
function metricsLine(line: string): Metrics | undefined {
  if (!line.trim() || line.length > 1_000_000) return undefined;
  try {
    const m = parseJson('metrics', 'line', line, { maxDepth: 4 }) as Partial<Metrics> | null;
    const step = m?.step;
    const ok = typeof step === 'number' && Number.isSafeInteger(step) && step >= 0;
    return ok && typeof m?.loss === 'number' ? (m as Metrics) : undefined;
  } catch {
    return undefined;
  }
}

interface LoopOptions {
  json: boolean;
  stop: { stop: boolean };
  checkpoint(step: number): Promise<void>;
}

/**
 * Steps until `steps` or a stop request. It yields to the event loop after every step, so a
 * Ctrl-C handler runs between steps, never inside one.
 */
async function trainLoop(
  trainer: Trainer<TrainableModel>,
  steps: number,
  history: Metrics[],
  metricsFile: string,
  io: Io,
  o: LoopOptions,
): Promise<void> {
  const bar = io.isTTY && !o.json ? new ProgressBar(steps, io.errStream) : undefined;
  const first = trainer.step;
  const lines = Math.max(1, Math.round((steps - first) / 10));
  const start = Date.now();
  let tokens = 0;
  while (trainer.step < steps && !o.stop.stop) {
    const m = trainer.trainStep();
    tokens += m.tokens;
    const line: Metrics = { step: m.step, loss: m.loss, lr: m.lr, gradNorm: m.gradNorm, ...m.aux };
    history.push(line);
    fs.appendFileSync(metricsFile, JSON.stringify(line) + '\n');
    const elapsed = (Date.now() - start) / 1000;
    const tokensPerSecond = tokens / Math.max(elapsed, 1e-3);
    if (o.json)
      io.out(
        JSON.stringify({ event: 'step', ...line, tokensPerSecond: Math.round(tokensPerSecond) }),
      );
    else if (bar) bar.update(m.step, { loss: m.loss, tokensPerSecond });
    else if ((m.step - first) % lines === 0 || m.step === steps) {
      // Not a terminal (CI logs, pipes): a progress line every tenth of the run.
      const status = formatStatus(m.step - first, steps - first, elapsed, {
        loss: m.loss,
        tokensPerSecond,
      });
      io.out(`step ${m.step}/${steps} ${status}`);
    }
    await o.checkpoint(m.step);
    await new Promise((resolve) => setImmediate(resolve));
  }
  bar?.finish();
}

/** Accuracy below which the summary says the task is not learned yet. */
const LEARNED = 0.9;

/**
 * The end of a run, honestly: what was trained on what, the accuracy (and on what) or the loss,
 * whether that means learned, the time, where it was saved and the commands that use it.
 */
function report(
  result: TrainResult,
  plan: TrainPlan,
  model: TrainableModel,
  checkpointDir: string,
  say: (s: string) => void,
): void {
  const { runDir, steps, accuracy, evalLoss } = result;
  if (result.interrupted)
    say(
      `interrupted at step ${steps}: checkpoint written to ${checkpointDir}; continue with --resume`,
    );
  say(`sample: ${result.sample}`);
  const task = plan.task ?? plan.imageTask ?? plan.batchTask;
  const on = task
    ? `task ${task.name}`
    : `data ${plan.info.data} (${tokenizerWords(plan.tokenizer!, plan.info.tokenizer)})`;
  const params = model.numParams().toLocaleString('en');
  say(
    `trained ${plan.label} (${String(model.config.type)}, ${params} parameters) on ${on} for ${steps} steps on ${result.backend}`,
  );
  const unit = plan.imageTask || plan.batchTask?.kind === 'classes' ? 'nats/example' : 'nats/token';
  const loss = `eval loss ${evalLoss.toFixed(4)} ${unit}`;
  if (accuracy !== undefined) {
    const verdict =
      accuracy >= LEARNED
        ? 'learned'
        : `not learned yet (below ${LEARNED}): continue with --name ${path.basename(runDir)} --resume --steps ${steps * 2}`;
    say(`accuracy ${accuracy.toFixed(3)} on ${accuracyOf(plan)} (${loss}): ${verdict}`);
  } else say(`${loss} on held-out text (perplexity ${Math.exp(evalLoss).toFixed(2)})`);
  say(
    `saved ${runDir} in ${result.seconds.toFixed(1)} s (training ${result.trainSeconds.toFixed(1)} s)`,
  );
  say(`next: ${nextCommands(plan, runDir)}`);
}

/** The tokenizer of a text run, for the summary: `tokenizer hf from <file>, 30522 tokens`. */
function tokenizerWords(tokenizer: Tokenizer, file: string | undefined): string {
  const from = file === undefined ? '' : ` from ${file}`;
  return `tokenizer ${tokenizer.kind}${from}, ${tokenizer.vocabSize} tokens`;
}

/** What the accuracy is measured on. */
function accuracyOf(plan: TrainPlan): string {
  if (plan.imageTask) return '128 fresh images';
  const kind = plan.batchTask?.kind;
  if (kind === 'classes') return '256 fresh sequences';
  if (kind === 'masked') return 'the masked tokens of 256 fresh sequences';
  if (kind === 'seq2seq') return 'the target tokens of 256 fresh examples (teacher-forced)';
  return 'the answer positions of 256 fresh examples';
}

/** How to use the run: generate where it decodes, eval always. */
function nextCommands(plan: TrainPlan, runDir: string): string {
  const evalCmd = `attnkit eval --run ${runDir}`;
  const seed = plan.info.seed + 77;
  let prompt: string | undefined;
  if (plan.task) {
    const { tokens, answers } = plan.task.sample(new Rng(seed));
    prompt = `--prompt "${tokens.slice(0, answers[0]!).join(' ')}" --max-tokens 1`;
  } else if (plan.batchTask?.kind === 'seq2seq') {
    prompt = `--prompt "${plan.batchTask.sample(new Rng(seed)).source.join(' ')}"`;
  } else if (plan.ids) {
    prompt = `--prompt "${plan.tokenizer!.decode(Array.from(plan.ids.subarray(0, 8))).replace(/["\\\n]/g, ' ')}"`;
  }
  return prompt ? `attnkit generate --run ${runDir} ${prompt}; ${evalCmd}` : evalCmd;
}
