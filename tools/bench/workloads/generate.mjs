// Greedy generation with @attnkit/models' generate(): the prompt is read once, then one token
// per step, with the KV cache, as generate() runs it by default: on a backend with a fused
// decoder (native) each token is one native call. For comparison: the KV cache through the
// tfjs kernels (fused: false; the same as the first on backends without a fused decoder), and
// no cache (every step reruns the whole sequence). tokens/s = new tokens / time, prompt
// processing included.
import { loadModels, PRESET, randomIds } from './models-common.mjs';

const PROMPT = 8;

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
    return kinds.map(({ key, label, useCache, fused }) => ({
      id: `generate-${key}-${newTokens}`,
      label: `${label}, ${PROMPT}+${newTokens} tokens`,
      series: `generate-${key}`,
      x: newTokens,
      tokens: newTokens,
      params: { newTokens, useCache, fused },
      torch: {
        kind: 'generate',
        prompt: Array.from(randomIds(PROMPT, api.config.vocabSize, 5)),
        newTokens,
        useCache,
        config: api.config,
      },
    }));
  },
  async prepare(_ctx, api, c) {
    const { core, models, config } = api;
    const { newTokens, useCache, fused } = c.params;
    const model = core.build(config, { rng: new core.Rng(0) });
    const prompt = Array.from(randomIds(PROMPT, config.vocabSize, 5));
    return {
      step: async () => {
        const out = await models.generate(model, prompt, {
          maxTokens: newTokens,
          temperature: 0,
          useCache,
          fused,
        });
        if (out.length !== newTokens) {
          throw new Error(`generate produced ${out.length} tokens, expected ${newTokens}`);
        }
      },
      dispose: () => model.dispose(),
    };
  },
};
