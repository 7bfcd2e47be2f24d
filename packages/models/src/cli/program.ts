// The `attnkit` command line: train, generate, eval, info, presets (run by ../cli.ts).
import { Command, InvalidArgumentError } from 'commander';
import { AttnkitError, BACKEND_ORDER } from '@attnkit/core';
import '@attnkit/positional';
import '@attnkit/attention';
import '../index';
import { evalCommand, generateCommand, infoCommand, presetsCommand } from './commands';
import { CliError } from './errors';
import { processIo } from './io';
import { TRAIN_DEFAULTS, trainCommand } from './train';
import type { TrainOptions } from './train';

import { version } from '../../package.json';
import { COUNT, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, numberArg } from './args';
import { TASK_STEPS, TOP_P, TRAIN_CHOICES } from './train-plan';

const count = numberArg(COUNT);
const nonNegativeInt = numberArg(NON_NEGATIVE_INT);
const positive = numberArg(POSITIVE);
const nonNegative = numberArg(NON_NEGATIVE);
const choice = (choices: readonly string[]) => (v: string) => {
  if (!choices.includes(v)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}`);
  return v;
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
    .version(version, '-V, --version', 'print the version of @attnkit/models')
    .option('--debug', 'print the stack trace of an error')
    .showHelpAfterError('(add --help for usage)');
  program
    .command('train')
    .description(
      'train a model on a synthetic task (default: llama-tiny on MQAR) or a decoder LM on a text file: decoder LMs on token tasks, encoders on masked-LM or classification tasks, encoder-decoders on seq2seq tasks, vits on image tasks',
    )
    .option('--preset <name>', 'model preset (see `attnkit presets`)')
    .option(
      '--config <file>',
      'model config JSON instead of a preset (vocabSize and maxLength, or numClasses, come from the data or task)',
    )
    .option(
      '--task <name>',
      'synthetic task (default by model: mqar for a decoder LM, majority or masked-copy for an encoder, reverse for an encoder-decoder, shapes for a vit); see the models README',
    )
    .option(
      '--data <file>',
      'train a decoder LM on this UTF-8 text file (a character tokenizer unless --tokenizer)',
    )
    .option(
      '--tokenizer <path>',
      "tokenize --data with this tokenizer: a Hugging Face tokenizer.json, or a directory with one (and its tokenizer_config.json); the run keeps a copy, so 'attnkit generate' takes and prints text",
    )
    .option(
      '--steps <n>',
      `optimizer steps (default ${TRAIN_DEFAULTS.steps} on token tasks and text; ${Object.entries(
        TASK_STEPS,
      )
        .filter(([k]) => k !== 'tokens')
        .map(([k, n]) => `${n} on ${k} tasks`)
        .join(', ')})`,
      count,
    )
    .option('--batch-size <n>', `sequences per step (default ${TRAIN_DEFAULTS.batchSize})`, count)
    .option('--lr <x>', `peak learning rate (default ${TRAIN_DEFAULTS.lr})`, positive)
    .option('--seq-len <n>', `sequence length for --data (default ${TRAIN_DEFAULTS.seqLen})`, count)
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
      nonNegativeInt,
    )
    .option(
      '--backend <name>',
      `tfjs backend: ${BACKEND_ORDER.join(', ')} (default: fastest installed)`,
    )
    .option('--seed <n>', 'random seed of weights, data and dropout (default 0)', nonNegativeInt)
    .option(
      '--weight-decay <x>',
      `AdamW decoupled weight decay (default ${TRAIN_DEFAULTS.weightDecay})`,
      nonNegative,
    )
    .option(
      '--schedule <name>',
      `learning-rate schedule: cosine, or wsd (constant, then linear decay over the last 20%) (default ${TRAIN_DEFAULTS.schedule})`,
      choice(TRAIN_CHOICES.schedule),
    )
    .option(
      '--warmup <n>',
      `linear warmup steps (default ${TRAIN_DEFAULTS.warmup}, at most a tenth of the steps on a task)`,
      nonNegativeInt,
    )
    .option(
      '--linear-init <spec>',
      "initializer of every Linear weight: a core initializer name or JSON spec, or 'blocks' to keep each block's own (default: PyTorch's nn.Linear init)",
      parseInit,
    )
    .option(
      '--embedding-init <spec>',
      "initializer of a decoder LM's token embedding: a core initializer name or JSON spec, or 'table' to keep N(0, 0.02²) (default: N(0, 1))",
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
    .option('--max-tokens <n>', 'new tokens at most', count, 100)
    .option('--temperature <x>', '0 = greedy', nonNegative)
    .option('--top-k <n>', 'keep the k most likely tokens', count)
    .option('--top-p <x>', 'nucleus sampling mass, in (0, 1]', numberArg(TOP_P))
    .option(
      '--repetition-penalty <x>',
      'CTRL repetition penalty (> 1 discourages repeats)',
      positive,
    )
    .option('--stop <text>', 'stop after this token (repeatable)', collect)
    .option('--seed <n>', 'sampling seed', nonNegativeInt)
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
    .option('--batches <n>', 'evaluation batches', count)
    .option('--seed <n>', 'seed of the evaluation examples', nonNegativeInt)
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

/** Error types whose message is the whole story: printed as one line, no stack trace. */
const USER_ERRORS = ['TokenizerError', 'CheckpointError'];

/**
 * Runs the CLI. Every error prints one line `error: <message>` and sets a non-zero exit code;
 * the stack trace only with `--debug`. A closed stdout (`attnkit presets | head -1`) ends the
 * command quietly.
 */
export async function main(argv = process.argv): Promise<void> {
  const debug = argv.includes('--debug');
  quietOnClosedPipe(process.stdout);
  try {
    await makeProgram().parseAsync(argv);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const known =
      err instanceof CliError || err instanceof AttnkitError || USER_ERRORS.includes(err.name);
    const hint = known || debug ? '' : ' (run with --debug for the stack trace)';
    process.stderr.write(`error: ${firstLine(err.message)}${hint}\n`);
    if (debug) process.stderr.write(`${err.stack ?? ''}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  }
}

const firstLine = (s: string) => s.split('\n')[0]!;

/**
 * A reader that stops early (`| head`) closes the pipe: the next write fails with EPIPE. That
 * is the reader's choice, not an error: exit at once with status 0, as Unix tools do.
 */
export function quietOnClosedPipe(
  stream: NodeJS.WritableStream,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') exit(0);
    else throw e;
  });
}
