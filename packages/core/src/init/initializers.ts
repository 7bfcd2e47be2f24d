import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { ConfigError, formatShape } from '../errors';
import { reserve } from '../limits';
import { NamedRegistry, type EntryInfo } from '../named-registry';
import { checkNumber, describe } from '../checks';
import { zodToConfigError } from '../registry';
import type { Rng } from '../random';

/**
 * Seeded initializers. Values are drawn in JavaScript from an `Rng`, so the same
 * seed gives the same weights on every backend.
 * Xavier/Glorot: Glorot & Bengio 2010 eq. 16; Kaiming/He: He et al. 2015 eq. 10.
 */
export const initializerNames = [
  'zeros',
  'ones',
  'normal',
  'truncated-normal',
  'uniform',
  'xavier-uniform',
  'xavier-normal',
  'kaiming-uniform',
  'kaiming-normal',
] as const;

/** A built-in initializer's name, or one added with `registerInitializer`. */
export type InitializerName = (typeof initializerNames)[number] | (string & {});

export interface InitSpec {
  name: InitializerName;
  /** normal / truncated-normal standard deviation (default 0.02). */
  std?: number;
  mean?: number;
  /** uniform bounds (default [-0.05, 0.05]). */
  min?: number;
  max?: number;
  /** multiplier for the xavier/kaiming scale (default 1, kaiming: sqrt(2)). */
  gain?: number;
}

/** Fills `values` (a weight of `fans`) as the spec asks, drawing from `rng`. */
export type Initializer = (values: Float32Array, spec: InitSpec, rng: Rng, fans: Fans) => void;

/** Initializers by name; a config's `init` names one (`registerInitializer` adds one). */
export const initializers = new NamedRegistry<Initializer>('initializer');

/** Adds an initializer that configs can then name. */
export function registerInitializer(name: string, fn: Initializer, info?: EntryInfo): void {
  initializers.register(name, fn, info);
}

const initializerNameSchema = z.string().refine((name) => initializers.has(name), {
  error: () =>
    `one of ${initializers
      .names()
      .map((n) => `'${n}'`)
      .join(', ')}`,
});

const initSpecObjectSchema = z
  .strictObject({
    name: initializerNameSchema,
    std: z.number().positive().optional(),
    mean: z.number().optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    gain: z.number().positive().optional(),
  })
  .refine((s) => (s.min ?? -0.05) < (s.max ?? 0.05), {
    error: 'uniform bounds with min < max (defaults -0.05, 0.05)',
    path: ['max'],
  });

/**
 * An initializer in a config: a bare name or `{ name, std?, mean?, min?, max?, gain? }`.
 * Strings and objects are checked by their own schema, so an error points at the bad field
 * (`$.init.std`) rather than at the whole union.
 */
export const initSpecSchema = z
  .custom<InitSpec | InitializerName>(() => true)
  .superRefine((value, ctx) => {
    const schema = typeof value === 'string' ? initializerNameSchema : initSpecObjectSchema;
    const result = schema.safeParse(value, { reportInput: true });
    if (!result.success) for (const issue of result.error.issues) ctx.addIssue({ ...issue });
  });

export interface Fans {
  fanIn: number;
  fanOut: number;
}

/** fanIn/fanOut of a weight: [in, out] for matrices, receptive field folded in for higher ranks. */
export function computeFans(shape: readonly number[]): Fans {
  if (shape.length === 0) return { fanIn: 1, fanOut: 1 };
  if (shape.length === 1) return { fanIn: shape[0]!, fanOut: shape[0]! };
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return {
    fanIn: shape[shape.length - 2]! * receptive,
    fanOut: shape[shape.length - 1]! * receptive,
  };
}

/** A float32 tensor of `shape` filled by the named initializer. */
export function initTensor(
  spec: InitSpec | InitializerName,
  shape: number[],
  rng: Rng,
  fans: Fans = computeFans(shape),
): tf.Tensor {
  const parsed = initSpecSchema.safeParse(spec, { reportInput: true });
  if (!parsed.success) throw zodToConfigError('initTensor', 'spec', parsed.error);
  const s: InitSpec = typeof parsed.data === 'string' ? { name: parsed.data } : parsed.data;
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ConfigError('initTensor', 'shape', 'non-negative integer sizes', describe(shape));
  }
  checkNumber('initTensor', 'fans.fanIn', fans.fanIn, { min: 0, minExclusive: true });
  checkNumber('initTensor', 'fans.fanOut', fans.fanOut, { min: 0, minExclusive: true });
  const size = shape.reduce((a, b) => a * b, 1);
  // Refuse before allocating; addParameter counts the weight once it is registered.
  reserve('initTensor', `shape ${formatShape(shape)}`, size, { commit: false });
  const values = new Float32Array(size);
  initializers.get(s.name, 'spec.name')(values, s, rng, fans);
  return tf.tensor(values, shape, 'float32');
}

function fillUniform(out: Float32Array, rng: Rng, min: number, max: number): void {
  for (let i = 0; i < out.length; i++) out[i] = min + (max - min) * rng.uniform();
}

function fillNormal(out: Float32Array, rng: Rng, mean: number, std: number): void {
  for (let i = 0; i < out.length; i++) out[i] = mean + std * rng.normal();
}

/** Re-draws samples beyond two standard deviations, like torch.nn.init.trunc_normal_ at ±2σ. */
function fillTruncatedNormal(out: Float32Array, rng: Rng, mean: number, std: number): void {
  for (let i = 0; i < out.length; i++) {
    let z = rng.normal();
    while (Math.abs(z) > 2) z = rng.normal();
    out[i] = mean + std * z;
  }
}

const glorot =
  'Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward networks';
const he = 'He et al. 2015, Delving Deep into Rectifiers';
initializers.register('zeros', () => undefined, { summary: 'all zeros' });
initializers.register('ones', (v) => void v.fill(1), { summary: 'all ones' });
initializers.register('normal', (v, s, rng) => fillNormal(v, rng, s.mean ?? 0, s.std ?? 0.02), {
  summary: 'N(mean, std²), std 0.02 by default',
});
initializers.register(
  'truncated-normal',
  (v, s, rng) => fillTruncatedNormal(v, rng, s.mean ?? 0, s.std ?? 0.02),
  { summary: 'N(mean, std²) redrawn outside two standard deviations' },
);
initializers.register(
  'uniform',
  (v, s, rng) => fillUniform(v, rng, s.min ?? -0.05, s.max ?? 0.05),
  {
    summary: 'U(min, max), [-0.05, 0.05] by default',
  },
);
initializers.register(
  'xavier-uniform',
  (v, s, rng, f) => {
    const limit = (s.gain ?? 1) * Math.sqrt(6 / (f.fanIn + f.fanOut));
    fillUniform(v, rng, -limit, limit);
  },
  { paper: glorot, equation: 'eq. 16' },
);
initializers.register(
  'xavier-normal',
  (v, s, rng, f) => fillNormal(v, rng, 0, (s.gain ?? 1) * Math.sqrt(2 / (f.fanIn + f.fanOut))),
  { paper: glorot, equation: 'eq. 16, normal form' },
);
initializers.register(
  'kaiming-uniform',
  (v, s, rng, f) => {
    const limit = (s.gain ?? Math.SQRT2) * Math.sqrt(3 / f.fanIn);
    fillUniform(v, rng, -limit, limit);
  },
  { paper: he, equation: 'eq. 10, uniform form' },
);
initializers.register(
  'kaiming-normal',
  (v, s, rng, f) => fillNormal(v, rng, 0, (s.gain ?? Math.SQRT2) / Math.sqrt(f.fanIn)),
  { paper: he, equation: 'eq. 10' },
);
