import { ConfigError } from '@attnkit/core';
import { CopyTask } from './copy';
import { MqarTask } from './mqar';
import { PasskeyTask } from './passkey';
import { SelectiveCopyTask } from './selective-copy';
import { SortingTask } from './sorting';
import type { SyntheticTask } from './task';

export * from './task';
export { CopyTask, MqarTask, PasskeyTask, SelectiveCopyTask, SortingTask };

/**
 * Default sizes, picked so that `attnkit train` (llama-tiny) reaches accuracy >= 0.9 in
 * minutes on 2 CPU cores; see the models README for the measured figures.
 */
const defaults: Record<string, () => SyntheticTask> = {
  mqar: () => new MqarTask({ numPairs: 4, numKeys: 8, numValues: 8 }),
  copy: () => new CopyTask({ length: 8, numSymbols: 8 }),
  'selective-copy': () => new SelectiveCopyTask({ numTokens: 4, regionLength: 16, numSymbols: 8 }),
  sorting: () => new SortingTask({ length: 8, numSymbols: 16 }),
  passkey: () => new PasskeyTask({ contextLength: 24, passkeyLength: 3 }),
};

const makers: Record<string, (o: never) => SyntheticTask> = {
  mqar: (o) => new MqarTask(o),
  copy: (o) => new CopyTask(o),
  'selective-copy': (o) => new SelectiveCopyTask(o),
  sorting: (o) => new SortingTask(o),
  passkey: (o) => new PasskeyTask(o),
};

export function listTasks(): string[] {
  return Object.keys(defaults);
}

/** A task by name, with its default sizes or the given options. */
export function createTask(name: string, options?: Record<string, number>): SyntheticTask {
  const make = makers[name];
  if (!make) {
    throw new ConfigError(
      'tasks',
      'task',
      `one of ${listTasks()
        .map((t) => `'${t}'`)
        .join(', ')}`,
      `'${name}'`,
    );
  }
  return options ? make(options as never) : defaults[name]!();
}
