import {
  ConfigError,
  NamedRegistry,
  type EntryInfo,
  type NamedRegisterOptions,
} from '@attnkit/core';
import { CopyTask } from './copy';
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

/** Marks a maker of image tasks (see `ImageTaskMaker`). */
export function imageTaskMaker(
  make: (options?: Record<string, number>) => ImageTask,
): ImageTaskMaker {
  return Object.assign(make, { kind: 'image' as const });
}

/** Synthetic tasks by name (`attnkit train --task <name>`); a user registers more with `registerTask`. */
export const tasks = new NamedRegistry<TaskMaker | ImageTaskMaker>('task');

/** Adds a task; `info.example` should hold its default options. */
export function registerTask(
  name: string,
  make: TaskMaker | ImageTaskMaker,
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

/** Names of the registered tasks, in registration order. */
export function listTasks(): string[] {
  return tasks.names();
}

/** Whether a registered task is a token task (decoder LMs) or an image task (vits). */
export function taskKind(name: string): 'tokens' | 'image' {
  return (maker(name) as Partial<ImageTaskMaker>).kind === 'image' ? 'image' : 'tokens';
}

/** A token task by name, with its default sizes or the given options. */
export function createTask(name: string, options?: Record<string, number>): SyntheticTask {
  if (taskKind(name) === 'image')
    throw new ConfigError(
      'tasks',
      'task',
      'a token task (image tasks: createImageTask)',
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

function maker(name: string): TaskMaker | ImageTaskMaker {
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
