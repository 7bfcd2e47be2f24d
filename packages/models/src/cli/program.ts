#!/usr/bin/env node
// The `attnkit` command line: train, generate, eval, info, presets.
import { Command, InvalidArgumentError } from 'commander';
import '@attnkit/positional';
import '@attnkit/attention';
import { evalCommand, generateCommand, infoCommand, presetsCommand } from './cli/commands';
import { CliError } from './cli/errors';
import { processIo } from './cli/io';
import { trainCommand } from './cli/train';
import type { TrainOptions } from './cli/train';
import './index';

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

export function makeProgram(): Command {
  const program = new Command('attnkit')
    .description('attnkit: train and sample small transformers')
    .showHelpAfterError();
  program
    .command('train')
    .description('train a model on a synthetic task (default: llama-tiny on MQAR) or a text file')
    .option('--preset <name>', 'model preset (see `attnkit presets`)')
    .option('--config <file>', 'model config JSON instead of a preset')
    .option('--task <name>', 'synthetic task: mqar, copy, selective-copy, sorting, passkey')
    .option('--data <file>', 'train a character model on this UTF-8 text file')
    .option('--steps <n>', 'optimizer steps', int)
    .option('--batch-size <n>', 'sequences per step', int)
    .option('--lr <x>', 'peak learning rate', num)
    .option('--seq-len <n>', 'sequence length for --data', int)
    .option('--name <name>', 'run name (directory under --out)')
    .option('--out <dir>', 'where runs are saved', 'runs')
    .option('--overwrite', 'replace an existing run directory')
    .option('--resume', 'continue an existing run from its checkpoint')
    .option('--checkpoint-every <n>', 'also checkpoint every n steps', int)
    .option('--backend <name>', 'tfjs backend (default: best available)')
    .option('--seed <n>', 'random seed', int)
    .option('--json', 'print JSON lines instead of text')
    .action(async (opts: TrainOptions) => {
      const stopSignal = { stop: false };
      const onSigint = () => {
        if (stopSignal.stop) process.exit(130);
        stopSignal.stop = true;
        process.stderr.write(
          '\nstopping after this step (Ctrl-C again to abort without a checkpoint)\n',
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
    .description('stream a continuation of a prompt from a saved run')
    .requiredOption('--run <dir>', 'run directory (runs/<name>)')
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

void main();
