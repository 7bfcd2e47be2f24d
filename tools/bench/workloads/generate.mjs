// Greedy generation with @attnkit/models' generate(): the prompt is read once, then one token
// per step, with each layer's KV cache (and, for comparison, without it: every step reruns
// the whole sequence). tokens/s = new tokens / time, prompt processing included.
import { loadModels, PRESET, randomIds } from './models-common.mjs';

const PROMPT = 8;

export default {
  name: 'generate',
  title: `${PRESET} greedy generation, tokens/s`,
  load: () => loadModels(['generate']),
  cases({ quick }, api) {
    const newTokens = quick ? 24 : api.config.maxLength - PROMPT;
    return [true, false].map((useCache) => ({
      id: `generate-${useCache ? 'cache' : 'nocache'}-${newTokens}`,
      label: `${useCache ? 'KV cache' : 'no cache'}, ${PROMPT}+${newTokens} tokens`,
      series: `generate-${useCache ? 'cache' : 'nocache'}`,
      x: newTokens,
      tokens: newTokens,
      params: { newTokens, useCache },
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
    const { newTokens, useCache } = c.params;
    const model = core.build(config, { rng: new core.Rng(0) });
    const prompt = Array.from(randomIds(PROMPT, config.vocabSize, 5));
    return {
      step: async () => {
        const out = await models.generate(model, prompt, {
          maxTokens: newTokens,
          temperature: 0,
          useCache,
        });
        if (out.length !== newTokens) {
          throw new Error(`generate produced ${out.length} tokens, expected ${newTokens}`);
        }
      },
      dispose: () => model.dispose(),
    };
  },
};
