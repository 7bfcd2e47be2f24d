// Shared by the train and generate workloads: the llama-tiny preset from @attnkit/models, and
// llama-small (issue 17: the few-million-parameter model users train), which is llama-tiny's
// preset with larger sizes and nothing else changed, so both sides build it as they build
// llama-tiny.
import { importPackage, requireExports } from '../lib/packages.mjs';

export const PRESET = 'llama-tiny';
export const SMALL = 'llama-small';

/** llama-tiny's config at issue 17's sizes: d 256, 4 layers, GQA 8/4, SwiGLU 688, vocab 256. */
export function smallConfig(tiny) {
  const dModel = 256;
  const numHeads = 8;
  return {
    ...tiny,
    vocabSize: 256,
    dModel,
    numLayers: 4,
    maxLength: 256,
    positional: { ...tiny.positional, headDim: dModel / numHeads },
    block: {
      ...tiny.block,
      mixer: { ...tiny.block.mixer, numHeads, numKvHeads: 4 },
      feedForward: { ...tiny.block.feedForward, hiddenDim: 688 },
    },
  };
}

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

/** Parameters of the model `config` builds (every variable, as PyTorch's numel sum counts). */
export function countParams(core, config) {
  const model = core.build(config, { rng: new core.Rng(0) });
  try {
    return model.numParams();
  } finally {
    model.dispose();
  }
}

/**
 * FLOP of one training step (forward + backward) of a decoder on `batch` × `seqLen` tokens, as
 * PaLM counts it (Chowdhery et al. 2022, appendix B): 6 · parameters per token for the weight
 * matmuls (the tied head included: its weight is the embedding) plus 12 · layers · dModel · T per
 * token for QKᵀ and AV (the causal half counted in full, as the sdpa workload does).
 */
export function trainFlops(config, params, batch, seqLen) {
  const tokens = batch * seqLen;
  return 6 * params * tokens + 12 * config.numLayers * config.dModel * seqLen * tokens;
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
