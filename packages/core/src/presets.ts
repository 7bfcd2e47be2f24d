import { ConfigError } from './errors';
import { NamedRegistry, type EntryInfo } from './named-registry';
import { validateConfig } from './registry';

/** A named model config: JSON that `build` takes. */
export type PresetConfig = { type: string } & Record<string, unknown>;

/**
 * Named model configs. Each package registers its own when imported (models its gpt/llama/bert/
 * vit-tiny, routing its MoE/MoH variants), so no package edits another's list. A preset is
 * checked against the block registry only when built: a package may register presets before
 * the blocks they use are loaded.
 */
export const presets = new NamedRegistry<PresetConfig>('preset');

export interface RegisterPresetOptions {
  /** Replace a preset of the same name instead of refusing. */
  override?: boolean;
  /** Paper, one-line summary (what it is for); `example` is the config itself. */
  info?: EntryInfo;
}

/** Adds a preset (a copy of `config`). */
export function registerPreset(
  name: string,
  config: PresetConfig,
  options: RegisterPresetOptions = {},
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
  const copy = structuredClone(config);
  presets.register(name, copy, { ...options.info, example: copy }, { override: true });
}

/** Names of the known presets, sorted. */
export function listPresets(): string[] {
  return presets.names().sort();
}

/** A deep copy of a preset's config; an unknown name lists the known ones. */
export function getPreset(name: string): PresetConfig {
  if (!presets.has(name)) {
    throw new ConfigError(
      'presets',
      'preset',
      `one of ${listPresets()
        .map((p) => `'${p}'`)
        .join(', ')}`,
      `'${name}'`,
    );
  }
  return structuredClone(presets.get(name));
}

/** Validates a preset against the registry (throws a ConfigError naming the JSON path). */
export function validatePreset(name: string): PresetConfig {
  return validateConfig(getPreset(name));
}
