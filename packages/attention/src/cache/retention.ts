import { NamedRegistry } from '@attnkit/core';

/**
 * Which cached keys a KV cache keeps after a step. Given the absolute positions of the kept keys
 * and the position of the next query, returns the indices (into `positions`, ascending) to keep,
 * or undefined to keep everything. Policies see positions only, so they run without reading
 * tensors back from the backend.
 */
export type RetentionPolicy = (
  positions: readonly number[],
  nextPosition: number,
  options: RetentionOptions,
) => number[] | undefined;

export interface RetentionOptions {
  /** Keys no more than `window - 1` positions behind the next query stay. */
  window?: number;
  /** Keys at positions < sinkTokens always stay (StreamingLLM). */
  sinkTokens?: number;
}

/** Retention policies by name; a KVCache takes one by `policy: '<name>'`. */
export const retentionPolicies = new NamedRegistry<RetentionPolicy>('retentionPolicy');

retentionPolicies.register(
  'window-sinks',
  (positions, next, { window, sinkTokens = 0 }) => {
    if (window === undefined) return undefined;
    const keep: number[] = [];
    positions.forEach((p, i) => {
      if (p < sinkTokens || next - p < window) keep.push(i);
    });
    return keep.length === positions.length ? undefined : keep;
  },
  {
    paper: 'Xiao et al. 2024, Efficient Streaming Language Models with Attention Sinks',
    equation: 'sec. 3.2 (rolling KV cache with attention sinks)',
    summary:
      'keeps the last `window` positions and the first `sinkTokens` (everything without a window)',
    example: { window: 4, sinkTokens: 1 },
  },
);
