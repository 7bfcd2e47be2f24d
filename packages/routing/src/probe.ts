import type { MixerContext } from '@attnkit/core';

/** Sends each numeric field of a forward's statistics to `context.probe`, named by the field. */
export function reportStats(block: string, context: MixerContext, stats: object): void {
  if (!context.probe) return;
  const path = context.path ?? '';
  for (const [name, value] of Object.entries(stats)) {
    const numeric =
      typeof value === 'number' ||
      (Array.isArray(value) && value.every((v) => typeof v === 'number'));
    if (numeric) context.probe({ block, path, name, value: value as number | number[] });
  }
}
