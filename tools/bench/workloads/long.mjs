// Long context: forward+backward time and peak memory of softmax attention against the linear
// and recurrent families as T grows (issues 19 and 13). Two parts, both causal, d = 64, 4 heads:
// - ops: scaledDotProductAttention (naive; on native the fused kernel) and chunked, against
//   linearAttention's chunk form (elu+1 features, normalised) and its decayed form (a log
//   decay per step, the RetNet / Mamba-2 shape); PyTorch runs the same math (torch/linear.py,
//   a plain chunked implementation), so the ratio compares like with like.
// - mixers: every registered mixer whose state does not grow with T (plus the encoder-only
//   sub-quadratic ones), whole layer with projections at dModel 256, against `mha`; PyTorch's
//   row is MHA of the same shape (the same baseline as the `mixers` workload).
// The crossover (the T from which a mixer stays faster than mha on a backend) is computed from
// the results by lib/long-report.mjs.
import * as tf from '@tensorflow/tfjs-core';
import { importPackage, requireExports } from '../lib/packages.mjs';
import { settle } from '../lib/measure.mjs';
import { outputOf } from './sdpa.mjs';

const HEADS = 4;
// Full runs: the d = 64 per head; --quick (CI) keeps each row well under a second.
const headDim = (quick) => (quick ? 16 : 64);
const SOFTMAX_CHUNK = 128;
const LINEAR_CHUNK = 64;
// A run estimated above this is skipped on that backend (--no-limit runs it): the sweep has
// many rows, and a row per mixer on a 1-thread backend would otherwise take most of an hour.
const MIXER_LIMIT_MS = 3000;

// Options a mixer needs besides dModel and numHeads, or that pick its linear-cost form (Mega's
// chunks, Hymba's window), and lengths for the ones with a learned length (Linformer, Agent):
// the longest T of the sweep.
const EXTRA_OPTIONS = {
  linformer: { projectedLength: 64 },
  // Their linear-cost forms (issue 13): Mega's chunked attention, Hymba's windowed heads.
  mega: { chunkSize: 128 },
  hymba: { window: 128 },
};

function lengths(quick) {
  return quick ? [64, 128] : [512, 1024, 2048, 4096, 8192, 16384];
}

export default {
  name: 'long',
  title: `long context, batch 1, ${HEADS} heads, d=64 (quick: 16), causal, forward+backward`,
  async load() {
    const core = await importPackage('core');
    if (!core.mod) return core;
    const r = await importPackage('attention');
    if (r.error) return r;
    if (r.skip) return { skip: r.skip };
    const missing = requireExports(r.mod, 'attention', [
      'scaledDotProductAttention',
      'linearAttention',
    ]).skip;
    if (missing) return { skip: missing };
    const probe = (type) => {
      try {
        const m = core.mod.build(mixerConfig(core.mod, type, 64, 512), {
          rng: new core.mod.Rng(0),
        });
        const caps = m.capabilities;
        m.dispose();
        return caps;
      } catch {
        return undefined;
      }
    };
    // Sub-quadratic: a decoding state that does not grow, or an encoder mixer without a cache
    // that is not cross-attention (those are listed by name from their capabilities).
    const mixers = core.mod.registeredTypes('mixer').filter((type) => {
      if (/cross/.test(type)) return false;
      const caps = probe(type);
      return caps !== undefined && caps.stateGrowth !== 'linear';
    });
    return {
      api: { core: core.mod, attention: r.mod, mixers: ['mha', ...mixers] },
      notes: [`mixers in the sweep: ${mixers.join(', ')}`],
    };
  },
  cases({ quick }, api) {
    const out = [];
    const T = lengths(quick);
    const d = headDim(quick);
    const maxT = T[T.length - 1];
    const ops = [
      { op: 'softmax', label: 'softmax (native: fused)', torch: 'sdpa', growth: 2 },
      { op: 'softmax-chunked', label: `softmax chunk=${SOFTMAX_CHUNK}`, torch: 'sdpa', growth: 2 },
      { op: 'linear', label: `linear elu+1 chunk=${LINEAR_CHUNK}`, torch: 'linear', growth: 1 },
      {
        op: 'linear-decay',
        label: `linear decayed chunk=${LINEAR_CHUNK}`,
        torch: 'linear',
        growth: 1,
      },
    ];
    for (const o of ops) {
      for (const t of T) {
        out.push({
          id: `long-op-${o.op}-${t}`,
          label: `op ${o.label} T=${t}`,
          series: `long-op-${o.op}`,
          x: t,
          growth: o.growth,
          params: { part: 'op', op: o.op, T: t, d },
          torch: {
            kind: o.torch === 'sdpa' ? 'sdpa' : 'linear-chunked',
            batch: 1,
            heads: HEADS,
            T: t,
            d,
            causal: true,
            backward: true,
            decay: o.op === 'linear-decay',
            chunk: LINEAR_CHUNK,
          },
        });
      }
    }
    // --quick (CI) runs each mixer at one length: it checks that every row runs, nothing more.
    const mixerLengths = quick ? T.slice(0, 1) : T;
    for (const type of api.mixers) {
      const config = mixerConfig(api.core, type, HEADS * d, maxT);
      for (const t of mixerLengths) {
        out.push({
          id: `long-mixer-${type}-${t}`,
          label: `${type} T=${t}`,
          series: `long-mixer-${type}`,
          x: t,
          growth: type === 'mha' ? 2 : 1,
          limitMs: MIXER_LIMIT_MS,
          params: { part: 'mixer', type, config, T: t },
          torch: {
            kind: 'mha',
            batch: 1,
            T: t,
            dModel: HEADS * d,
            numHeads: HEADS,
            numKvHeads: HEADS,
            backward: true,
          },
        });
      }
    }
    return out;
  },
  async prepare(_ctx, api, c) {
    return c.params.part === 'op' ? prepareOp(api, c.params) : prepareMixer(api, c.params);
  },
};

function prepareOp(api, { op, T, d }) {
  const shape = [1, HEADS, T, d];
  const [q, k, v] = [1, 2, 3].map((seed) => tf.randomNormal(shape, 0, 1, 'float32', seed));
  // Decayed form: log decay in (-0.1, 0) per step, the range a trained RetNet head sits in.
  const gate = tf.tidy(() => tf.mul(tf.randomUniform([1, HEADS, T], 0.001, 1, 'float32', 4), -0.1));
  const scale = 1 / Math.sqrt(d);
  const elu1 = (x) => tf.add(tf.elu(x), 1);
  const attend = {
    softmax: (q, k, v) =>
      outputOf(api.attention.scaledDotProductAttention(q, k, v, { causal: true })),
    'softmax-chunked': (q, k, v) =>
      outputOf(
        api.attention.scaledDotProductAttention(q, k, v, {
          causal: true,
          chunkSize: SOFTMAX_CHUNK,
        }),
      ),
    linear: (q, k, v) =>
      outputOf(
        api.attention.linearAttention(elu1(q), elu1(k), v, {
          chunkSize: LINEAR_CHUNK,
          normalize: true,
        }),
      ),
    'linear-decay': (q, k, v) =>
      outputOf(
        api.attention.linearAttention(q, k, v, {
          chunkSize: LINEAR_CHUNK,
          scale,
          gate,
          checkValues: false,
        }),
      ),
  }[op];
  return {
    step: () => settle(tf.grads(attend)([q, k, v])),
    dispose: () => tf.dispose([q, k, v, gate]),
  };
}

function prepareMixer(api, { config, T }) {
  if (config.skip) return { skip: config.skip };
  const mixer = api.core.build(config, { rng: new api.core.Rng(0) });
  mixer.train();
  const dModel = config.dModel;
  const init = tf.randomNormal([1, T, dModel], 0, 1, 'float32', 7);
  const x = tf.variable(init);
  init.dispose();
  const causal = mixer.capabilities?.causal === 'never' ? undefined : true;
  const vars = [x, ...mixer.trainableParameters()];
  return {
    step: () => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(mixer.forward(x, { causal, training: true })),
        vars,
      );
      return settle([value, ...Object.values(grads)]);
    },
    dispose: () => {
      mixer.dispose();
      x.dispose();
    },
  };
}

/** The first config the registry accepts at this width, or { skip } with its message. */
function mixerConfig(core, type, dModel, maxLength) {
  const keys = core.configKeys(type) ?? [];
  const heads = keys.includes('numHeads') ? { numHeads: HEADS } : {};
  const base = { type, dModel, ...heads, ...(EXTRA_OPTIONS[type] ?? {}) };
  const sized = keys.includes('maxLength') ? { ...base, maxLength } : base;
  let message = '';
  for (const candidate of [sized, { type, dModel, numHeads: HEADS }, { type, dModel }]) {
    try {
      core.validateConfig(candidate);
      return candidate;
    } catch (err) {
      message ||= err instanceof Error ? err.message.split('\n')[0] : String(err);
    }
  }
  return { skip: `no default config builds: ${message}` };
}
