// Shared by the train and generate workloads: the llama-tiny preset from @attnkit/models.
import { importPackage, requireExports } from '../lib/packages.mjs';

export const PRESET = 'llama-tiny';

export async function loadModels(exportsNeeded) {
  const core = await importPackage('core');
  if (!core.mod) return core;
  const models = await importPackage('models');
  if (!models.mod) return models;
  const missing = requireExports(models.mod, 'models', ['getPreset', ...exportsNeeded]);
  if (missing.skip) return missing;
  let config;
  try {
    config = models.mod.getPreset(PRESET);
    // Building once checks that every block of the preset is registered (packages landed).
    core.mod.build(config, { rng: new core.mod.Rng(0) }).dispose();
  } catch (err) {
    const text = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { skip: `${PRESET} does not build yet: ${text}` };
  }
  return { api: { core: core.mod, models: models.mod, config } };
}

/** Seeded random token ids in [0, vocab). */
export function randomIds(count, vocab, seed) {
  let s = seed >>> 0 || 1;
  const ids = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    // xorshift32: deterministic and independent of the library's Rng.
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    ids[i] = (s >>> 0) % vocab;
  }
  return ids;
}
