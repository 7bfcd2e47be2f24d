import { z } from 'zod';
import { ConfigError, checkNumber, parseConfig, reserve } from '@attnkit/core';

const factor = z.number();

/** Context-extension schemes: each rewrites the inverse frequencies of the rotation. */
export const rotaryScalingSchema = z.discriminatedUnion('type', [
  // Position interpolation (Chen et al. 2023): positions divided by `factor`.
  z.strictObject({ type: z.literal('linear'), factor }),
  // "NTK-aware" scaling (bloc97 2023; YaRN sec. 3.1): base *= factor^(d/(d-2)).
  z.strictObject({ type: z.literal('ntk'), factor }),
  // YaRN (Peng et al. 2023, sec. 3.2-3.3): NTK-by-parts ramp plus attention temperature.
  z.strictObject({
    type: z.literal('yarn'),
    factor,
    originalMaxPosition: z.number().int().positive(),
    betaFast: z.number().default(32),
    betaSlow: z.number().default(1),
    attentionFactor: z.number().optional(),
  }),
]);
export type RotaryScaling = z.input<typeof rotaryScalingSchema>;

/** The rotary fields: what `applyRotary` takes (`type` optional, so a module's config works too). */
export const rotaryFields = {
  headDim: z.number().int().positive(),
  rotaryDim: z.number().int().positive().optional(),
  base: z.number().default(10000),
  layout: z.enum(['half', 'interleaved']).default('half'),
  scaling: rotaryScalingSchema.optional(),
};
export const rotaryOptionsSchema = z.strictObject({
  type: z.literal('rotary').optional(),
  ...rotaryFields,
});
export type RotaryOptions = z.input<typeof rotaryOptionsSchema>;

/** A validated rotary setup with its frequencies precomputed. */
export interface ResolvedRotary {
  headDim: number;
  rotaryDim: number;
  layout: 'half' | 'interleaved';
  /** `rotaryDim / 2` angular frequencies theta_i (radians per position). */
  invFreq: number[];
  /** Multiplier on attention logits (YaRN's temperature); 1 otherwise. */
  logitScale: number;
}

/** Validates the rotary options and computes the (scaled) frequencies. Errors name 'rotary'. */
export function resolveRotary(options: RotaryOptions): ResolvedRotary {
  const c = parseConfig('rotary', rotaryOptionsSchema, options);
  const rotaryDim = c.rotaryDim ?? c.headDim;
  if (rotaryDim > c.headDim) {
    throw new ConfigError('rotary', 'rotaryDim', `<= headDim=${c.headDim}`, String(rotaryDim));
  }
  if (rotaryDim % 2 !== 0) {
    const which = c.rotaryDim === undefined ? 'headDim (the rotary dimension)' : 'rotaryDim';
    throw new ConfigError('rotary', which, 'an even integer', String(rotaryDim));
  }
  checkNumber('rotary', 'base', c.base, { min: 1, minExclusive: true });
  const half = rotaryDim / 2;
  // RoFormer eq. 15: theta_i = base^(-2i/d), i = 0..d/2-1
  // rotaryDim / 2 frequencies, 8 bytes each: checked against the build's budget first.
  reserve('rotary', `rotaryDim ${rotaryDim}`, half, { bytesPerElement: 8, parameter: false });
  const plain = Array.from({ length: half }, (_, i) => Math.pow(c.base, (-2 * i) / rotaryDim));
  const s = c.scaling;
  if (!s) return { headDim: c.headDim, rotaryDim, layout: c.layout, invFreq: plain, logitScale: 1 };

  checkNumber('rotary', 'scaling.factor', s.factor, { min: 0, minExclusive: true });
  if (s.type !== 'linear') {
    checkNumber('rotary', `scaling.factor (${s.type} extends the context)`, s.factor, { min: 1 });
  }
  let invFreq = plain;
  let logitScale = 1;
  if (s.type === 'linear') {
    invFreq = plain.map((f) => f / s.factor);
  } else if (s.type === 'ntk') {
    const base = c.base * Math.pow(s.factor, rotaryDim / (rotaryDim - 2));
    invFreq = plain.map((_, i) => Math.pow(base, (-2 * i) / rotaryDim));
  } else {
    checkNumber('rotary', 'scaling.betaSlow', s.betaSlow, { min: 0, minExclusive: true });
    checkNumber('rotary', `scaling.betaFast (> betaSlow=${s.betaSlow})`, s.betaFast, {
      min: s.betaSlow,
      minExclusive: true,
    });
    invFreq = yarnFrequencies(plain, c.base, rotaryDim, s.factor, s.originalMaxPosition, s);
    if (s.attentionFactor !== undefined) {
      checkNumber('rotary', 'scaling.attentionFactor', s.attentionFactor, {
        min: 0,
        minExclusive: true,
      });
    }
    // YaRN eq. 22: sqrt(1/t) = 0.1 ln(s) + 1 multiplies q and k, so logits by its square.
    const mscale = s.attentionFactor ?? (s.factor > 1 ? 0.1 * Math.log(s.factor) + 1 : 1);
    logitScale = mscale * mscale;
  }
  return { headDim: c.headDim, rotaryDim, layout: c.layout, invFreq, logitScale };
}

/**
 * YaRN "NTK-by-parts" (Peng et al. 2023, eqs. 17-19): dimension d completes r = L / lambda_d
 * rotations over the original context L. Dimensions with r > betaFast keep their frequency,
 * those with r < betaSlow are interpolated (theta / s), and a linear ramp gamma blends between.
 * The ramp ends are the dimension indices where r = betaFast and r = betaSlow, rounded outward,
 * as in the authors' and Hugging Face's implementations, so checkpoints match.
 */
function yarnFrequencies(
  plain: number[],
  base: number,
  dim: number,
  scale: number,
  originalMaxPosition: number,
  betas: { betaFast: number; betaSlow: number },
): number[] {
  // index i with r(i) = rotations: L * base^(-2i/d) / (2 pi) = rotations
  const indexFor = (rotations: number) =>
    (dim * Math.log(originalMaxPosition / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  const low = Math.max(Math.floor(indexFor(betas.betaFast)), 0);
  let high = Math.min(Math.ceil(indexFor(betas.betaSlow)), dim - 1);
  if (high === low) high += 0.001; // avoid a zero-width ramp
  return plain.map((theta, i) => {
    const ramp = Math.min(Math.max((i - low) / (high - low), 0), 1); // 0: keep, 1: interpolate
    const keep = 1 - ramp;
    return (theta / scale) * (1 - keep) + theta * keep;
  });
}
