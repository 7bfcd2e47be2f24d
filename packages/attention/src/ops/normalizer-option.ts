import { ConfigError, describe, normalizers } from '@attnkit/core';

/** What a normaliser choice depends on: the forms and extras only softmax has. */
export interface NormalizerChoice {
  normalizer?: string;
  chunkSize?: number;
  /** Set (any value) when a sink logit joins the denominator. */
  sinkLogit?: unknown;
  /** A log-sum-exp (and merging by it, as a prefix does) is a softmax notion. */
  returnLogSumExp?: boolean;
  prefix?: unknown;
}

/**
 * Refuses an unregistered normaliser, and a normaliser other than softmax with the chunked form
 * (its online softmax has no sparsemax/entmax counterpart), a sink logit, a returned
 * log-sum-exp or a key/value prefix (merged by log-sum-exp): softmax notions all.
 */
export function checkNormalizerOption(block: string, choice: NormalizerChoice): void {
  const name = choice.normalizer;
  if (name === undefined || name === 'softmax') return;
  if (typeof name !== 'string' || !normalizers.has(name)) {
    throw new ConfigError(
      block,
      'normalizer',
      `a registered normalizer (${normalizers.names().join(', ')})`,
      describe(name),
    );
  }
  for (const [field, set] of [
    ['chunkSize', choice.chunkSize !== undefined],
    ['sinkLogit', choice.sinkLogit !== undefined && choice.sinkLogit !== false],
    ['returnLogSumExp', choice.returnLogSumExp === true],
    ['prefix', choice.prefix !== undefined],
  ] as const) {
    if (set) {
      throw new ConfigError(
        block,
        field,
        `unset with normalizer '${name}' (only softmax has it)`,
        describe(choice[field]),
      );
    }
  }
}
