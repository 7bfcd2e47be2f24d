import {
  ConfigError,
  NamedRegistry,
  type EntryInfo,
  type NamedRegisterOptions,
} from '@attnkit/core';
import { CopyTask } from './copy';
import type { BatchTask } from './encoder-tasks';
import { MajorityTask, MaskedCopyTask, ReverseTask } from './encoder-tasks';
import { InductionTask } from './induction';
import { MqarTask } from './mqar';
import { PasskeyTask } from './passkey';
import type { ImageTask } from './image-task';
import { SelectiveCopyTask } from './selective-copy';
import { ShapesTask } from './shapes';
import { SortingTask } from './sorting';
import type { SyntheticTask } from './task';

export * from './task';
export * from './image-task';
export * from './encoder-tasks';
export type { ShapesOptions } from './shapes';
export {
  CopyTask,
  InductionTask,
  MqarTask,
  PasskeyTask,
  SelectiveCopyTask,
  ShapesTask,
  SortingTask,
};

/** Builds a task from its options, or with its default sizes when none are given. */
export type TaskMaker = (options?: Record<string, number>) => SyntheticTask;

/** Builds an image task; the `kind: 'image'` marker tells `attnkit train` to train a vit on it. */
export type ImageTaskMaker = ((options?: Record<string, number>) => ImageTask) & {
  readonly kind: 'image';
};

/** The kinds of task besides token tasks: which model trains on each (see `taskKind`). */
export type BatchTaskKind = BatchTask['kind'];

/** Builds an encoder or encoder-decoder task, marked with its kind. */
export type BatchTaskMaker = ((options?: Record<string, number>) => BatchTask) & {
  readonly kind: BatchTaskKind;
};

/** Marks a maker of encoder (`masked`, `classes`) or encoder-decoder (`seq2seq`) tasks. */
export function batchTaskMaker(
  kind: BatchTaskKind,
  make: (options?: Record<string, number>) => BatchTask,
): BatchTaskMaker {
  return Object.assign(make, { kind });
}

/** Marks a maker of image tasks (see `ImageTaskMaker`). */
export function imageTaskMaker(
  make: (options?: Record<string, number>) => ImageTask,
): ImageTaskMaker {
  return Object.assign(make, { kind: 'image' as const });
}

/** Synthetic tasks by name (`attnkit train --task <name>`); a user registers more with `registerTask`. */
export const tasks = new NamedRegistry<TaskMaker | ImageTaskMaker | BatchTaskMaker>('task');

/** Adds a task; `info.example` should hold its default options. */
export function registerTask(
  name: string,
  make: TaskMaker | ImageTaskMaker | BatchTaskMaker,
  info?: EntryInfo,
  options?: NamedRegisterOptions,
): void {
  tasks.register(name, make, info, options);
}

/**
 * A maker from a task class and its default sizes, picked so that `attnkit train` (llama-tiny)
 * reaches accuracy >= 0.9 in minutes on 2 CPU cores; see the models README for the figures.
 */
function tokenMaker<O>(Task: new (options: O) => SyntheticTask, defaults: O): TaskMaker {
  return (options) => new Task((options ?? defaults) as O);
}

const mqar = { numPairs: 4, numKeys: 8, numValues: 8 };
registerTask('mqar', tokenMaker(MqarTask, mqar), {
  paper: 'Arora et al. 2023, Zoology',
  equation: 'sec. 3',
  summary: 'Multi-query associative recall: key-value pairs, then each queried key asks its value.',
  example: mqar,
});
const copy = { length: 8, numSymbols: 8 };
registerTask('copy', tokenMaker(CopyTask, copy), {
  paper: 'Graves et al. 2014, Neural Turing Machines',
  summary: 'Copy a sequence after a separator.',
  example: copy,
});
const selectiveCopy = { numTokens: 4, regionLength: 16, numSymbols: 8 };
registerTask('selective-copy', tokenMaker(SelectiveCopyTask, selectiveCopy), {
  paper: 'Gu & Dao 2023, Mamba',
  equation: 'sec. 3.1',
  summary: 'Copy the data tokens scattered among noise tokens, in order.',
  example: selectiveCopy,
});
const sorting = { length: 8, numSymbols: 16 };
registerTask('sorting', tokenMaker(SortingTask, sorting), {
  summary: 'Output the sequence sorted after a separator.',
  example: sorting,
});
const passkey = { contextLength: 24, passkeyLength: 3 };
registerTask('passkey', tokenMaker(PasskeyTask, passkey), {
  paper: 'Mohtashami & Jaggi 2023, Landmark Attention',
  equation: 'sec. 4.2',
  summary: 'Repeat a passkey hidden at a random place in a repeating filler.',
  example: passkey,
});

const induction = { length: 24, numSymbols: 16 };
registerTask('induction', tokenMaker(InductionTask, induction), {
  paper: 'Olsson et al. 2022, In-context Learning and Induction Heads; Fu et al. 2023, H3',
  equation: 'H3 sec. 3.1',
  summary: 'After a trigger token seen once, predict the token that followed its first occurrence.',
  example: induction,
});

const shapes = { imageSize: 32, channels: 3, numClasses: 10 };
registerTask(
  'shapes',
  imageTaskMaker((options) => new ShapesTask((options ?? shapes) as never)),
  {
    summary:
      'Image classification: which of up to 10 procedurally drawn patterns (bars, checkerboard, quadrant squares, diagonal, frame, cross), shifted, coloured and noisy.',
    example: shapes,
  },
);

const maskedCopy = { length: 8, numSymbols: 8 };
registerTask(
  'masked-copy',
  batchTaskMaker('masked', (options) => new MaskedCopyTask((options ?? maskedCopy) as never)),
  {
    paper: 'Devlin et al. 2019, BERT',
    equation: 'sec. 3.1, task #1',
    summary:
      'Masked LM for encoders: x SEP x with 15% of the tokens masked, each recoverable from its copy.',
    example: maskedCopy,
  },
);
const majority = { length: 15, numClasses: 2 };
registerTask(
  'majority',
  batchTaskMaker('classes', (options) => new MajorityTask((options ?? majority) as never)),
  {
    summary:
      'Sequence classification for encoders: CLS, then symbols; the class is the most frequent.',
    example: majority,
  },
);
const reverse = { length: 8, numSymbols: 8 };
registerTask(
  'reverse',
  batchTaskMaker('seq2seq', (options) => new ReverseTask((options ?? reverse) as never)),
  {
    paper: 'Sutskever et al. 2014, Sequence to Sequence Learning',
    summary: 'Seq2seq for encoder-decoders: the source sequence reversed, teacher-forced.',
    example: reverse,
  },
);

/** Names of the registered tasks, in registration order. */
export function listTasks(): string[] {
  return tasks.names();
}

/** What a task is: tokens (decoder LMs), image (vits), masked or classes (encoders), seq2seq. */
export type TaskKind = 'tokens' | 'image' | BatchTaskKind;

/** The kind of a registered task (see `TaskKind`). */
export function taskKind(name: string): TaskKind {
  return (maker(name) as { kind?: TaskKind }).kind ?? 'tokens';
}

/** A token task by name, with its default sizes or the given options. */
export function createTask(name: string, options?: Record<string, number>): SyntheticTask {
  if (taskKind(name) !== 'tokens')
    throw new ConfigError(
      'tasks',
      'task',
      'a token task (image tasks: createImageTask; encoder tasks: createBatchTask)',
      `'${name}'`,
    );
  return (maker(name) as TaskMaker)(options);
}

/** An image task by name, with its default sizes or the given options. */
export function createImageTask(name: string, options?: Record<string, number>): ImageTask {
  if (taskKind(name) !== 'image')
    throw new ConfigError('tasks', 'task', 'an image task (token tasks: createTask)', `'${name}'`);
  return (maker(name) as ImageTaskMaker)(options);
}

/** An encoder or encoder-decoder task (masked, classes, seq2seq) by name. */
export function createBatchTask(name: string, options?: Record<string, number>): BatchTask {
  const kind = taskKind(name);
  if (kind === 'tokens' || kind === 'image')
    throw new ConfigError(
      'tasks',
      'task',
      `a masked, classes or seq2seq task (this is a ${kind} task)`,
      `'${name}'`,
    );
  return (maker(name) as BatchTaskMaker)(options);
}

function maker(name: string): TaskMaker | ImageTaskMaker | BatchTaskMaker {
  if (!tasks.has(name)) {
    throw new ConfigError(
      'tasks',
      'task',
      `one of ${listTasks()
        .map((t) => `'${t}'`)
        .join(', ')}`,
      `'${name}'`,
    );
  }
  return tasks.get(name);
}
