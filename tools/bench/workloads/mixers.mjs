// Every token mixer registered in @attnkit/core's registry (category 'mixer'), built at a small
// dModel with its defaults, forward and forward+backward (gradients of sum(y) with respect to
// the input and every parameter), causal, over several sequence lengths.
// PyTorch has no counterpart for most mixers, so every row is compared with the same PyTorch
// baseline: multi-head attention with Q/K/V/O projections (grouped K/V for gqa/mqa) at that shape.
import * as tf from '@tensorflow/tfjs-core';
import { importPackage } from '../lib/packages.mjs';
import { settle } from '../lib/measure.mjs';

const BATCH = 1;

// Options some mixers need besides dModel and numHeads (their schemas have no default for
// them); tried first, then the bare config. Windows stay below the shortest T.
const EXTRA_OPTIONS = {
  gqa: { numKvHeads: 2 },
  'sliding-window': { window: 16 },
  streaming: { window: 16, numSinkTokens: 4 },
  'mixture-of-attention-heads': { topK: 2 },
  moh: { numSharedHeads: 1, topK: 2 },
  mosa: { sparsity: 4 },
};

function sizes(quick) {
  return quick
    ? { dModel: 32, numHeads: 4, lengths: [32, 64] }
    : { dModel: 64, numHeads: 4, lengths: [64, 128, 256] };
}

export default {
  name: 'mixers',
  title: 'registered mixers, batch 1, causal where they can be',
  async load() {
    const core = await importPackage('core');
    if (!core.mod) return core;
    // Mixers register themselves when their package is imported.
    const attention = await importPackage('attention');
    if (attention.error) return attention;
    const notes = [];
    if (attention.skip) notes.push(attention.skip);
    for (const pkg of ['routing']) {
      const r = await importPackage(pkg);
      if (r.error) return r;
      if (r.skip) notes.push(r.skip);
    }
    const types = core.mod.registeredTypes('mixer');
    if (types.length === 0) {
      return { skip: `no mixer is registered yet${notes.length ? ` (${notes.join('; ')})` : ''}` };
    }
    return { api: { core: core.mod, types }, notes };
  },
  cases({ quick }, api) {
    const { dModel, numHeads, lengths } = sizes(quick);
    const out = [];
    for (const type of api.types) {
      const config = mixerConfig(api.core, type, dModel, numHeads);
      for (const T of lengths) {
        for (const backward of [false, true]) {
          const mode = backward ? 'fwdbwd' : 'fwd';
          out.push({
            id: `mixer-${type}-${mode}-${T}`,
            label: `${type} ${backward ? 'fwd+bwd' : 'fwd'} T=${T}`,
            series: `mixer-${type}-${mode}`,
            x: T,
            params: { type, config: config.config, T, dModel, backward },
            skip: config.skip,
            torch: {
              kind: 'mha',
              batch: BATCH,
              T,
              dModel,
              numHeads,
              numKvHeads: config.numKvHeads ?? (type === 'mqa' ? 1 : numHeads),
              backward,
            },
          });
        }
      }
    }
    return out;
  },
  async prepare(_ctx, api, c) {
    const { config, T, dModel, backward, type } = c.params;
    const mixer = api.core.build(config, { rng: new api.core.Rng(0) });
    mixer.eval();
    const init = tf.randomNormal([BATCH, T, dModel], 0, 1, 'float32', 7);
    const x = tf.variable(init);
    init.dispose();
    // Causal where the mixer can be (cross-attention and encoder-only mixers never are).
    const causal = mixer.capabilities?.causal === 'never' ? undefined : true;
    const context = { causal, training: false };
    // Cross-attention mixers attend to a memory; give them the input itself.
    if (/cross/.test(type)) context.memory = x;
    const vars = [x, ...mixer.trainableParameters()];
    const forward = () => mixer.forward(x, context);
    const step = backward
      ? () => {
          const { value, grads } = tf.variableGrads(() => tf.sum(forward()), vars);
          return settle([value, ...Object.values(grads)]);
        }
      : () => settle(tf.tidy(forward));
    return {
      step,
      dispose: () => {
        mixer.dispose();
        x.dispose();
      },
    };
  },
};

/** The first config the registry accepts, or { skip } with the registry's message. */
function mixerConfig(core, type, dModel, numHeads) {
  const candidates = [
    { type, dModel, numHeads, ...(EXTRA_OPTIONS[type] ?? {}) },
    { type, dModel, numHeads },
    { type, dModel },
  ];
  let message = '';
  for (const candidate of candidates) {
    try {
      const parsed = core.validateConfig(candidate);
      return { config: candidate, numKvHeads: parsed.numKvHeads };
    } catch (err) {
      message ||= err instanceof Error ? err.message.split('\n')[0] : String(err);
    }
  }
  return { skip: `no default config builds: ${message}` };
}
