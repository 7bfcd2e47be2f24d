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

export interface WsdScheduleOptions extends CosineScheduleOptions {
  /** Share of `totalSteps` spent decaying at the end (default 0.2). */
  decayFraction?: number;
}

/**
 * Warmup-stable-decay (Hu et al. 2024, MiniCPM, sec. 4.2): linear warmup to `peakLr`, constant
 * until the last `decayFraction` of the run, then a linear decay to `minLr`. A run that needs a
 * long phase at full rate before its loss drops (in-context recall) keeps it. `step` counts from 1.
 */
export function wsdSchedule(options: WsdScheduleOptions): (step: number) => number {
  const peak = checkNumber('wsdSchedule', 'peakLr', options.peakLr, { min: 0, minExclusive: true });
  const total = checkInt('wsdSchedule', 'totalSteps', options.totalSteps, 1);
  const warmup = checkInt('wsdSchedule', 'warmupSteps', options.warmupSteps ?? 0, 0);
  const floor = checkNumber('wsdSchedule', 'minLr', options.minLr ?? peak / 10, {
    min: 0,
    max: peak,
  });
  const fraction = checkNumber('wsdSchedule', 'decayFraction', options.decayFraction ?? 0.2, {
    min: 0,
    max: 1,
  });
  const decayStart = Math.max(warmup, Math.round(total * (1 - fraction)));
  return (step: number) => {
    if (step <= warmup) return (peak * step) / Math.max(1, warmup);
    if (step <= decayStart) return peak;
    const progress = Math.min(1, (step - decayStart) / Math.max(1, total - decayStart));
    return peak + (floor - peak) * progress;
  };
}
