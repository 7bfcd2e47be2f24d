import * as tf from '@tensorflow/tfjs-core';
import { AttnkitError } from './errors';
import { build } from './registry';
import { Rng } from './random';
import type { Module } from './module';
import type {
  AttentionWeightsInfo,
  MixerCapabilities,
  MixerContext,
  PositionalEncoding,
  SharedKeyValuesSlot,
  TokenMixer,
} from './contracts';
import { slotTensors } from './contracts';

type Mixer = Module & TokenMixer;

/** One check of the contract: a name and a function that throws a plain Error when it fails. */
export interface ContractCheck {
  name: string;
  run(): void | Promise<void>;
}

export interface MixerContractOptions {
  /** Batch and time of the inputs (default 2 and 6). */
  batch?: number;
  time?: number;
  /** Tolerance of the equivalences (cached == full, restored == original). Default 1e-4. */
  atol?: number;
  /** Seed of the weights, the parameter noise and the inputs. */
  seed?: number;
}

/**
 * The token-mixer contract as a list of checks, for any registered mixer config: shapes, bad
 * input, causality, cached decoding == full forward, state save/restore/reorder round-trips,
 * every declared capability (refused features are refused with a typed error, accepted ones
 * work), a non-zero gradient for every parameter, and no leaked tensor. Run each check inside
 * a test of your runner: `for (const c of mixerContract(config)) it(c.name, c.run)`.
 */
export function mixerContract(
  config: { type: string } & Record<string, unknown>,
  options: MixerContractOptions = {},
): ContractCheck[] {
  const { batch = 2, time = 6, atol = 1e-4, seed = 7 } = options;
  const dModel = config.dModel as number;
  if (!Number.isInteger(dModel)) {
    throw new Error(`mixerContract: ${config.type}: the config needs an integer dModel`);
  }
  const make = (): Mixer => {
    const m = build<Mixer>(config, { rng: new Rng(seed) });
    perturbParameters(m, seed);
    return m;
  };
  const input = (t = time, s = seed): tf.Tensor3D =>
    tf.randomNormal([batch, t, dModel], 0, 1, 'float32', s) as tf.Tensor3D;
  // Cross-attention reads context.memory; every other mixer ignores it.
  const base = (x: tf.Tensor3D): MixerContext => ({ memory: x });
  const caps = (m: Mixer): MixerCapabilities => {
    if (!m.capabilities) throw new Error(`${config.type}: declares no capabilities`);
    return m.capabilities;
  };
  const withMixer = async (fn: (m: Mixer) => void | Promise<void>) => {
    const m = make();
    try {
      await fn(m);
    } finally {
      m.dispose();
    }
  };
  const name = (what: string) => `${config.type}: ${what}`;

  return [
    {
      name: name('declares its capabilities; [batch, time, dModel] in and out, finite'),
      run: () =>
        withMixer((m) => {
          caps(m);
          tf.tidy(() => {
            const x = input();
            const y = m.forward(x, base(x));
            sameShape('output', y.shape, [batch, time, dModel]);
            if (!tf.all(tf.isFinite(y)).dataSync()[0]) throw new Error('output is not finite');
          });
        }),
    },
    {
      name: name('refuses bad input with a typed error'),
      run: () =>
        withMixer((m) => {
          tf.tidy(() => {
            expectTyped('x of rank 2', () =>
              m.forward(tf.zeros([batch, dModel]) as unknown as tf.Tensor3D),
            );
            expectTyped('x of the wrong width', () =>
              m.forward(tf.zeros([batch, time, dModel + 1]) as tf.Tensor3D),
            );
          });
        }),
    },
    {
      name: name('causal runs do not let later tokens change earlier outputs'),
      run: () =>
        withMixer((m) => {
          const c = caps(m);
          if (c.causal === 'never' || !c.strictlyCausal) return;
          tf.tidy(() => {
            const a = input(time, seed);
            const b = tf.concat(
              [tf.slice(a, [0, 0, 0], [-1, time - 2, -1]), input(2, seed + 1)],
              1,
            ) as tf.Tensor3D;
            const head = (t: tf.Tensor) => tf.slice(t, [0, 0, 0], [-1, time - 2, -1]);
            const ya = m.forward(a, { ...base(a), causal: true });
            const yb = m.forward(b, { ...base(b), causal: true });
            const diff = maxAbs(head(ya), head(yb));
            if (diff > 1e-5) throw new Error(`earlier outputs changed by ${diff}`);
          });
        }),
    },
    {
      name: name('cached decoding, one token and three at a time, equals the full forward'),
      run: () =>
        withMixer((m) => {
          if (!caps(m).decoding) {
            if (m.initState) {
              expectTyped('a state with a mixer that cannot decode', () => {
                const s = m.initState!(batch);
                s.dispose();
                tf.tidy(() => m.forward(input(), { state: s }));
              });
            }
            return;
          }
          tf.tidy(() => {
            const x = input();
            const full = m.forward(x, { ...base(x), causal: true });
            for (const step of [1, 3]) {
              const state = m.initState!(batch);
              const stepped = decode(m, x, state, step);
              if (state.length !== time) {
                throw new Error(`state.length ${state.length} after ${time} tokens`);
              }
              state.dispose();
              const diff = maxAbs(stepped, full);
              if (diff > atol) throw new Error(`decoding ${step} at a time differs by ${diff}`);
            }
          });
        }),
    },
    {
      name: name('its state saves, restores and reorders: decoding goes on identically'),
      run: () =>
        withMixer(async (m) => {
          if (!caps(m).decoding) return;
          const x = input();
          const split = Math.floor(time / 2);
          const head = tf.slice(x, [0, 0, 0], [-1, split, -1]) as tf.Tensor3D;
          const tail = tf.slice(x, [0, split, 0], [-1, time - split, -1]) as tf.Tensor3D;
          const original = m.initState!(batch);
          const copy = m.initState!(batch);
          try {
            decode(m, head, original, 1).dispose();
            copy.restore(await original.save());
            if (copy.length !== original.length || copy.bytes !== original.bytes) {
              throw new Error('restored state differs in length or bytes');
            }
            const rows = [...Array(batch).keys()].reverse();
            copy.reorder(rows);
            tf.tidy(() => {
              const a = decode(m, tail, original, 1);
              const b = decode(m, tf.reverse(tail, 0) as tf.Tensor3D, copy, 1);
              const diff = maxAbs(tf.reverse(b, 0), a);
              if (diff > atol) throw new Error(`restored, reordered state differs by ${diff}`);
            });
          } finally {
            tf.dispose([x, head, tail]);
            original.dispose();
            copy.dispose();
          }
        }),
    },
    {
      name: name(
        'masks, segment ids and causality: refused when not declared, working when declared',
      ),
      run: () =>
        withMixer((m) => {
          const c = caps(m);
          tf.tidy(() => {
            const x = input();
            const plain = m.forward(x, base(x));
            const all = tf.ones([batch, 1, time, time], 'bool');
            const sameSegment = tf.zeros([batch, time], 'int32') as tf.Tensor2D;
            const cases: [boolean, string, MixerContext][] = [
              [c.masks, 'an all-true mask', { mask: all }],
              [c.segmentIds, 'one segment', { segmentIds: sameSegment }],
              // One block is the last block: Block-Attention then sees everything.
              [
                !!c.blockAttention,
                'block attention, one block',
                { segmentIds: sameSegment, blockAttention: true },
              ],
            ];
            for (const [accepted, what, extra] of cases) {
              const run = () => m.forward(x, { ...base(x), ...extra });
              if (!accepted) expectTyped(what, run);
              else {
                const diff = maxAbs(run(), plain);
                if (diff > atol) throw new Error(`${what} changed the output by ${diff}`);
              }
            }
            if (c.causal === 'only')
              expectTyped('causal: false', () => m.forward(x, { ...base(x), causal: false }));
            if (c.causal === 'never')
              expectTyped('causal: true', () => m.forward(x, { ...base(x), causal: true }));
          });
        }),
    },
    {
      name: name('positional kinds: refused when not declared, working when declared'),
      run: () =>
        withMixer((m) => {
          const c = caps(m);
          tf.tidy(() => {
            const x = input();
            for (const kind of ['rotate', 'bias'] as const) {
              const run = () => m.forward(x, { ...base(x), positional: testEncoding(kind) });
              if (!c.positional.includes(kind)) expectTyped(`a '${kind}' encoding`, run);
              else
                sameShape(`output with a '${kind}' encoding`, run().shape, [batch, time, dModel]);
            }
          });
        }),
    },
    {
      name: name('attention weights and head control as declared'),
      run: () =>
        withMixer((m) => {
          const c = caps(m);
          tf.tidy(() => {
            const x = input();
            const seen: AttentionWeightsInfo[] = [];
            m.forward(x, {
              ...base(x),
              path: 'layers_0.mixer',
              attentionHook: (info) =>
                seen.push({ ...info, weights: tf.keep(info.weights.clone()) }),
            });
            if (c.attentionWeights === 'none' && seen.length > 0) {
              throw new Error("declares attentionWeights 'none' but called the hook");
            }
            if (c.attentionWeights !== 'none') {
              if (seen.length === 0) throw new Error('the hook was never called');
              for (const info of seen) {
                if (info.path !== 'layers_0.mixer' || info.block !== config.type) {
                  throw new Error(`hook saw path '${info.path}', block '${info.block}'`);
                }
                const [b, , tq] = info.weights.shape;
                if (b !== batch || tq !== time || info.weights.rank !== 4) {
                  throw new Error(`weights of shape [${info.weights.shape}]`);
                }
              }
            }
            tf.dispose(seen.map((s) => s.weights));
            const off = () => m.forward(x, { ...base(x), heads: { disabled: [0] } });
            if (!c.headControl) expectTyped('head control', off);
            else {
              const plain = m.forward(x, base(x));
              if (maxAbs(off(), plain) === 0) throw new Error('disabling head 0 changed nothing');
            }
          });
        }),
    },
    {
      name: name('a key/value prefix: refused when not declared, attended when declared'),
      run: () =>
        withMixer((m) => {
          const c = caps(m);
          tf.tidy(() => {
            const x = input();
            const { numKvHeads, headDim } = m as unknown as {
              numKvHeads?: number;
              headDim?: number;
            };
            const [kvh, hd] = [numKvHeads ?? 1, headDim ?? dModel];
            const prefix = {
              keys: tf.randomNormal([1, kvh, 2, hd], 0, 1, 'float32', seed + 2) as tf.Tensor4D,
              values: tf.randomNormal([1, kvh, 2, hd], 0, 1, 'float32', seed + 3) as tf.Tensor4D,
            };
            const run = () => m.forward(x, { ...base(x), prefix });
            if (!c.keyValuePrefix) return expectTyped('a key/value prefix', run);
            if (numKvHeads === undefined || headDim === undefined) {
              throw new Error('takes a prefix but exposes no numKvHeads/headDim (its head space)');
            }
            if (maxAbs(run(), m.forward(x, base(x))) === 0)
              throw new Error('the prefix changed nothing');
          });
        }),
    },
    {
      name: name(
        'cross-layer shared keys/values: refused when not declared, reproduced when declared',
      ),
      run: () =>
        withMixer((m) => {
          const slot: SharedKeyValuesSlot = {};
          try {
            tf.tidy(() => {
              const x = input();
              const share = (role: 'produce' | 'consume') => ({
                ...base(x),
                sharedKeyValues: { role, slot },
              });
              if (!caps(m).sharedKeyValues)
                return expectTyped('shared keys/values', () => m.forward(x, share('produce')));
              // A consumer handed the producer's own keys/values is the producer again.
              const produced = m.forward(x, share('produce'));
              if (!slot.keys) throw new Error('the producer left no keys in the slot');
              if (maxAbs(m.forward(x, share('consume')), produced) > 1e-5)
                throw new Error("a consumer of the mixer's own keys/values differs from it");
              if (maxAbs(produced, m.forward(x, base(x))) > 1e-5)
                throw new Error('producing shared keys/values changed the output');
            });
          } finally {
            tf.dispose(slotTensors(slot));
          }
        }),
    },
    {
      name: name('every parameter gets a non-zero gradient'),
      run: () =>
        withMixer((m) => {
          const x = input();
          const { value, grads } = tf.variableGrads(
            () => tf.sum(tf.square(m.forward(x, base(x)))) as tf.Scalar,
          );
          try {
            for (const [param, v] of m.namedParameters()) {
              if (!v.trainable) continue;
              const g = grads[v.name];
              const size = g ? tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]!) : 0;
              if (!(size > 0)) throw new Error(`parameter ${param} gets no gradient`);
            }
          } finally {
            tf.dispose([x, value, ...Object.values(grads)]);
          }
        }),
    },
    {
      name: name('leaks nothing over build, forward, backward, hook, decoding and dispose'),
      run: () => {
        const before = tf.memory().numTensors;
        const m = make();
        const x = input();
        const { value, grads } = tf.variableGrads(() => tf.sum(m.forward(x, base(x))) as tf.Scalar);
        tf.dispose([value, ...Object.values(grads)]);
        m.forward(x, { ...base(x), attentionHook: () => undefined }).dispose();
        if (m.capabilities?.decoding) {
          const state = m.initState!(batch);
          decode(m, x, state, 2).dispose();
          state.dispose();
        }
        x.dispose();
        m.dispose();
        const after = tf.memory().numTensors;
        if (after !== before) throw new Error(`leaked ${after - before} tensors`);
      },
    },
  ];
}

/** Feeds x to m `step` tokens at a time on `state`; the outputs concatenated. */
function decode(
  m: Mixer,
  x: tf.Tensor3D,
  state: NonNullable<MixerContext['state']>,
  step: number,
): tf.Tensor3D {
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < x.shape[1]; i += step) {
    const n = Math.min(step, x.shape[1] - i);
    outs.push(
      tf.tidy(() => {
        const chunk = tf.slice(x, [0, i, 0], [-1, n, -1]) as tf.Tensor3D;
        return m.forward(chunk, { memory: chunk, state, causal: true });
      }),
    );
  }
  const out = tf.concat(outs, 1) as tf.Tensor3D;
  tf.dispose(outs);
  return out;
}

/** An encoding of the given kind that does real work: a position-dependent rotation or bias. */
function testEncoding(kind: 'rotate' | 'bias'): PositionalEncoding {
  if (kind === 'rotate') {
    // Rotates channel pairs (2i, 2i+1) by position · 0.1: a tiny RoPE.
    return {
      kind,
      rotate: (x, positions) =>
        tf.tidy(() => {
          const d = x.shape[3];
          const half = Math.floor(d / 2);
          const angle = tf.reshape(tf.mul(tf.cast(positions, 'float32'), 0.1), [1, 1, -1, 1]);
          const [even, odd, rest] = tf.split(x, [half, half, d - 2 * half], 3);
          const cos = tf.cos(angle);
          const sin = tf.sin(angle);
          const a = tf.sub(tf.mul(even!, cos), tf.mul(odd!, sin));
          const b = tf.add(tf.mul(odd!, cos), tf.mul(even!, sin));
          return tf.concat([a, b, rest!], 3) as tf.Tensor4D;
        }),
    };
  }
  return {
    kind,
    bias: (queryPositions, keyPositions) =>
      tf.tidy(() =>
        tf.mul(
          -0.1,
          tf.abs(tf.sub(tf.reshape(queryPositions, [-1, 1]), tf.reshape(keyPositions, [1, -1]))),
        ),
      ),
  };
}

/** Seeded noise on every parameter, so identity- or zero-initialised parts do real work. */
function perturbParameters(m: Module, seed: number): void {
  const rng = new Rng(seed + 101);
  for (const v of m.parameters()) {
    const noise = Float32Array.from({ length: v.size }, () => rng.normal() * 0.3);
    const next = tf.tidy(() => tf.add(v, tf.tensor(noise, v.shape)));
    v.assign(next);
    next.dispose();
  }
}

function expectTyped(what: string, run: () => unknown): void {
  try {
    run();
  } catch (e) {
    if (e instanceof AttnkitError) return;
    throw new Error(`${what}: expected a typed attnkit error, got ${String(e)}`);
  }
  throw new Error(`${what}: expected a typed error, got none`);
}

function sameShape(what: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.join(',') !== expected.join(',')) {
    throw new Error(`${what}: expected shape [${expected}], got [${actual}]`);
  }
}

function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}
