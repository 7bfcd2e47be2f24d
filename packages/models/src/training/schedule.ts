import { checkInt, checkNumber } from '@attnkit/core';

export interface CosineScheduleOptions {
  peakLr: number;
  totalSteps: number;
  warmupSteps?: number;
  /** Floor reached at `totalSteps`; default peakLr / 10. */
  minLr?: number;
}

/**
 * Linear warmup to `peakLr`, then cosine decay to `minLr` (Loshchilov & Hutter 2017, SGDR,
 * eq. 5, one cycle). `step` counts from 1.
 */
export function cosineSchedule(options: CosineScheduleOptions): (step: number) => number {
  const peak = checkNumber('cosineSchedule', 'peakLr', options.peakLr, {
    min: 0,
    minExclusive: true,
  });
  const total = checkInt('cosineSchedule', 'totalSteps', options.totalSteps, 1);
  const warmup = checkInt('cosineSchedule', 'warmupSteps', options.warmupSteps ?? 0, 0);
  const floor = checkNumber('cosineSchedule', 'minLr', options.minLr ?? peak / 10, {
    min: 0,
    max: peak,
  });
  return (step: number) => {
    if (step <= warmup) return (peak * step) / Math.max(1, warmup);
    const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
    return floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * progress));
  };
}
