import { ConfigError, validateConfig } from '@attnkit/core';
import { routingPresets } from '@attnkit/routing';
import bertTiny from './bert-tiny.json';
import gptTiny from './gpt-tiny.json';
import llamaTiny from './llama-tiny.json';
import vitTiny from './vit-tiny.json';

export type PresetConfig = { type: string } & Record<string, unknown>;

const presets = new Map<string, PresetConfig>([
  ['gpt-tiny', gptTiny],
  ['llama-tiny', llamaTiny],
  ['bert-tiny', bertTiny],
  ['vit-tiny', vitTiny],
  // Presets of packages below models in the dependency order.
  ...Object.entries(routingPresets),
]);

/** Names of the known presets, sorted. */
export function listPresets(): string[] {
  return [...presets.keys()].sort();
}

/** A deep copy of a preset's config; an unknown name lists the known ones. */
export function getPreset(name: string): PresetConfig {
  const config = presets.get(name);
  if (!config) {
    throw new ConfigError(
      'presets',
      'preset',
      `one of ${listPresets()
        .map((p) => `'${p}'`)
        .join(', ')}`,
      `'${name}'`,
    );
  }
  return structuredClone(config);
}

/**
 * Adds a preset (e.g. `moe-lm-tiny` from @attnkit/routing). The config is checked against the
 * registry only when built, so a package may register presets before its blocks load.
 */
export function registerPreset(
  name: string,
  config: PresetConfig,
  options: { override?: boolean } = {},
): void {
  if (presets.has(name) && !options.override) {
    throw new ConfigError(
      'presets',
      'name',
      'a preset name not taken (or { override: true })',
      `'${name}'`,
    );
  }
  if (typeof config !== 'object' || config === null || typeof config.type !== 'string') {
    throw new ConfigError(
      'presets',
      `${name}.type`,
      'a config object with a "type"',
      JSON.stringify(config),
    );
  }
  presets.set(name, structuredClone(config));
}

/** Validates a preset against the registry (throws a ConfigError naming the JSON path). */
export function validatePreset(name: string): PresetConfig {
  return validateConfig(getPreset(name));
}
