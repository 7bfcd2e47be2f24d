// One call from a preset name to a built model: the preset's config, the caller's overrides
// deep-merged into it, validated by the registry (a ConfigError names the JSON path).
import {
  type BuildOptions,
  ConfigError,
  type Module,
  build,
  describe,
  getPreset,
} from '@attnkit/core';
import '../presets';

/** Overrides for a preset: a partial config, merged field by field. */
export type PresetOverrides = { [key: string]: unknown };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `base` with `overrides` merged in: objects merge key by key, anything else (numbers, strings,
 * arrays) replaces. A nested config whose `type` changes is replaced whole, so switching
 * `block.mixer` from gqa to mha does not carry gqa's `numKvHeads` over.
 */
export function mergeConfig(
  base: Record<string, unknown>,
  overrides: PresetOverrides,
  path = '$',
): Record<string, unknown> {
  if (!isPlainObject(overrides)) {
    throw new ConfigError('fromPreset', path, 'an object of overrides', describe(overrides));
  }
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
      throw new ConfigError('fromPreset', `${path}.${key}`, 'a config field', `'${key}'`);
    }
    const old = out[key];
    const retyped =
      isPlainObject(value) && isPlainObject(old) && 'type' in value && value.type !== old.type;
    out[key] =
      isPlainObject(value) && isPlainObject(old) && !retyped
        ? mergeConfig(old, value, `${path}.${key}`)
        : structuredClone(value);
  }
  return out;
}

/**
 * Builds preset `name` with `overrides` deep-merged into its config:
 * `fromPreset('llama-tiny', { numLayers: 4, block: { mixer: { numKvHeads: 1 } } })`. The merged
 * config is validated like any `build` (a ConfigError names the JSON path, `$.block.mixer.numHeds`);
 * an unknown name lists the known presets. Weights are freshly initialised (seed with `setSeed` or
 * `options.rng`); a trained model comes from `fromPretrained`.
 */
export function fromPreset<M extends Module = Module>(
  name: string,
  overrides: PresetOverrides = {},
  options: Omit<BuildOptions, 'path' | 'category'> = {},
): M {
  const config = mergeConfig(getPreset(name), overrides);
  return build(config as unknown, options) as M;
}

/** The config `fromPreset(name, overrides)` builds, without building it. */
export function presetConfig(
  name: string,
  overrides: PresetOverrides = {},
): Record<string, unknown> {
  return mergeConfig(getPreset(name), overrides);
}
