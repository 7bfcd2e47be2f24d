// The `attnkit` command line: train, generate, eval, info, presets (run by ../cli.ts).
import { Command, InvalidArgumentError } from 'commander';
import { BACKEND_ORDER } from '@attnkit/core';
import '@attnkit/positional';
import '@attnkit/attention';
import '../index';
import { evalCommand, generateCommand, infoCommand, presetsCommand } from './commands';
import { CliError } from './errors';
import { processIo } from './io';
import { TRAIN_DEFAULTS, trainCommand } from './train';
import type { TrainOptions } from './train';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError('expected a non-negative integer');
  return n;
};
const num = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
};
const collect = (v: string, all: string[] = []) => [...all, v];
const parseInit = (v: string) => {
  if (!v.trim().startsWith('{')) return v;
  try {
    return JSON.parse(v) as Record<string, unknown>;
  } catch {
    throw new InvalidArgumentError('expected an initializer name or a JSON object');
  }
};

export function makeProgram(): Command {
  const program = new Command('attnkit')
    .description('attnkit: train and sample small transformers')
    .showHelpAfterError();
  program
    .command('train')
    .description(
      'train a decoder LM on a synthetic task (default: llama-tiny on MQAR) or a text file, or a vit on an image task',
    )
    .option('--preset <name>', 'model preset (see `attnkit presets`)')
    .option(
      '--config <file>',
      'decoder-lm or vit config JSON instead of a preset (vocabSize and maxLength, or numClasses, come from the data)',
    )
    .option(
      '--task <name>',
      'synthetic task: mqar, copy, selective-copy, sorting, passkey, induction; for a vit, shapes (its default)',
    )
    .option('--data <file>', 'train a character model on this UTF-8 text file')
    .option('--steps <n>', `optimizer steps (default ${TRAIN_DEFAULTS.steps})`, int)
    .option('--batch-size <n>', `sequences per step (default ${TRAIN_DEFAULTS.batchSize})`, int)
    .option('--lr <x>', `peak learning rate (default ${TRAIN_DEFAULTS.lr})`, num)
    .option('--seq-len <n>', `sequence length for --data (default ${TRAIN_DEFAULTS.seqLen})`, int)
    .option(
      '--name <name>',
      'run directory name under --out (default <preset>-<task|data>, then -2, -3, ... when taken)',
    )
    .option('--out <dir>', 'where runs are saved', 'runs')
    .option('--overwrite', 'replace the existing run directory --name')
    .option('--resume', 'continue the run --name from its checkpoint (--steps may extend it)')
    .option(
      '--checkpoint-every <n>',
      `checkpoint every n steps, 0 = only at the end (default ${TRAIN_DEFAULTS.checkpointEvery})`,
      int,
    )
    .option(
      '--backend <name>',
      `tfjs backend: ${BACKEND_ORDER.join(', ')} (default: fastest installed)`,
    )
    .option('--seed <n>', 'random seed of weights, data and dropout (default 0)', int)
    .option(
      '--weight-decay <x>',
      `AdamW decoupled weight decay (default ${TRAIN_DEFAULTS.weightDecay})`,
      num,
    )
    .option(
      '--schedule <name>',
      `learning-rate schedule: cosine, or wsd (constant, then linear decay over the last 20%) (default ${TRAIN_DEFAULTS.schedule})`,
    )
    .option('--warmup <n>', `linear warmup steps (default ${TRAIN_DEFAULTS.warmup})`, int)
    .option(
      '--linear-init <spec>',
      "initializer of every Linear weight: a core initializer name or JSON spec, or 'blocks' to keep each block's own (default: PyTorch's nn.Linear init)",
      parseInit,
    )
    .option('--json', 'print JSON lines instead of text')
    .action(async (opts: TrainOptions) => {
      const stopSignal = { stop: false };
      const onSigint = () => {
        if (stopSignal.stop) process.exit(130);
        stopSignal.stop = true;
        process.stderr.write(
          '\nstopping after this step and writing a checkpoint (Ctrl-C again: quit now, keeping the last checkpoint)\n',
        );
      };
      process.on('SIGINT', onSigint);
      try {
        const result = await trainCommand({ ...opts, stopSignal }, processIo);
        if (result.interrupted) process.exitCode = 130;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
  program
    .command('generate')
    .description('stream a continuation of a prompt from a saved run or model directory')
    .requiredOption('--run <dir>', 'run, saved model or Hugging Face checkpoint directory')
    .option('--prompt <text>', 'prompt text (token ids for task runs)')
    .option('--max-tokens <n>', 'new tokens at most', int, 100)
    .option('--temperature <x>', '0 = greedy', num)
    .option('--top-k <n>', 'keep the k most likely tokens', int)
    .option('--top-p <x>', 'nucleus sampling mass', num)
    .option('--repetition-penalty <x>', 'CTRL repetition penalty (> 1 discourages repeats)', num)
    .option('--stop <text>', 'stop after this token (repeatable)', collect)
    .option('--seed <n>', 'sampling seed', int)
    .option('--backend <name>', 'tfjs backend')
    .option('--json', 'print JSON lines')
    .action(async (opts) => {
      await generateCommand(opts, processIo);
    });
  program
    .command('eval')
    .description('evaluate a saved run on fresh task examples or a text file')
    .requiredOption('--run <dir>', 'run directory')
    .option('--data <file>', 'text file (default: the run’s own data or task)')
    .option('--batches <n>', 'evaluation batches', int)
    .option('--seed <n>', 'seed of the evaluation examples', int)
    .option('--backend <name>', 'tfjs backend')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      await evalCommand(opts, processIo);
    });
  program
    .command('info')
    .description('parameters per module and FLOPs per token of a preset, config or run')
    .option('--preset <name>', 'preset name')
    .option('--config <file>', 'model config JSON')
    .option('--run <dir>', 'run directory')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      await infoCommand(opts, processIo);
    });
  program
    .command('presets')
    .description('list the model presets')
    .option('--json', 'print JSON lines')
    .action((opts) => {
      presetsCommand(opts, processIo);
    });
  return program;
}

/** Runs the CLI; user errors print one line and set a non-zero exit code. */
export async function main(argv = process.argv): Promise<void> {
  try {
    await makeProgram().parseAsync(argv);
  } catch (e) {
    const err = e as Error;
    const known =
      err instanceof CliError ||
      [
        'ConfigError',
        'RegistryError',
        'ShapeError',
        'StateDictError',
        'TokenizerError',
        'CheckpointError',
      ].includes(err.name);
    process.stderr.write(`error: ${err.message}\n`);
    if (!known) process.stderr.write(`${err.stack ?? ''}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  }
}
