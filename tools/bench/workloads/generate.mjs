// Greedy generation with @attnkit/models' generate(): the prompt is read once, then one token
// per step, with the KV cache, as generate() runs it by default: on a backend with a fused
// decoder (native) each token is one native call. For comparison: the KV cache through the
// tfjs kernels (fused: false; the same as the first on backends without a fused decoder), and
// no cache (every step reruns the whole sequence); and a batch of 4 prompts through
// generateBatch (on native one fused call per step for all four; PyTorch's eager KV-cache loop
// at batch 4). tokens/s = new tokens (of all sequences) / time, prompt processing included.
import { loadModels, PRESET, randomIds } from './models-common.mjs';

const PROMPT = 8;
const BATCH = 4;

/** The prompts of a case: one, or BATCH of equal length (PyTorch's loop pads nothing). */
const promptsOf = (batch, vocab) =>
  Array.from({ length: batch }, (_, b) => Array.from(randomIds(PROMPT, vocab, 5 + b)));

export default {
  name: 'generate',
  title: `${PRESET} greedy generation, tokens/s`,
  load: () => loadModels(['generate']),
  cases({ quick }, api) {
    const newTokens = quick ? 24 : api.config.maxLength - PROMPT;
    const kinds = [
      { key: 'cache', label: 'KV cache', useCache: true, fused: true },
      { key: 'cache-unfused', label: 'KV cache, fused: false', useCache: true, fused: false },
      { key: 'nocache', label: 'no cache', useCache: false, fused: false },
    ];
    if (api.models.generateBatch) {
      kinds.push({
        key: `cache-batch${BATCH}`,
        label: `KV cache, batch ${BATCH}`,
        useCache: true,
        fused: true,
        batch: BATCH,
      });
    }
    return kinds.map(({ key, label, useCache, fused, batch = 1 }) => ({
      id: `generate-${key}-${newTokens}`,
      label: `${label}, ${PROMPT}+${newTokens} tokens`,
      series: `generate-${key}`,
      x: newTokens,
      tokens: batch * newTokens,
      params: { newTokens, useCache, fused, batch },
      torch: {
        kind: 'generate',
        prompt: promptsOf(1, api.config.vocabSize)[0],
        ...(batch > 1 ? { prompts: promptsOf(batch, api.config.vocabSize) } : {}),
        newTokens,
        useCache,
        config: api.config,
      },
    }));
  },
  async prepare(_ctx, api, c) {
    const { core, models, config } = api;
    const { newTokens, useCache, fused, batch } = c.params;
    const model = core.build(config, { rng: new core.Rng(0) });
    const prompts = promptsOf(batch, config.vocabSize);
    const options = { maxTokens: newTokens, temperature: 0, useCache, fused };
    return {
      step: async () => {
        const out =
          batch > 1
            ? await models.generateBatch(model, prompts, options)
            : [await models.generate(model, prompts[0], options)];
        if (out.some((tokens) => tokens.length !== newTokens)) {
          const lengths = out.map((tokens) => tokens.length).join(', ');
          throw new Error(`generate produced ${lengths} tokens, expected ${newTokens}`);
        }
      },
      dispose: () => model.dispose(),
    };
  },
};
