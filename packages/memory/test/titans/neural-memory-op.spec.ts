import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@attnkit/core';
import {
  expectClose,
  expectNoLeaks,
  finiteDifferenceCheck,
  maxAbsDiff,
} from '@attnkit/core/testing';
import { deltaRule } from '@attnkit/attention';
import {
  MIRAS_PRESETS,
  applyMemory,
  biasGradient,
  memoryGradients,
  memoryModel,
  neuralMemory,
  retain,
  type MemoryModel,
  type MemoryModelKind,
  type MirasChoice,
  type NeuralMemoryCarry,
  type NeuralMemoryInputs,
} from '../../src';

const [B, H, T, D] = [2, 2, 7, 3];
const KINDS: MemoryModelKind[] = ['linear', 'mlp', 'swiglu'];
const model = (kind: MemoryModelKind, depth = 2): MemoryModel => memoryModel(kind, D, 4, depth);
const rand = (shape: number[], seed: number, scale = 1) =>
  tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), scale);
/** The inner gradient's clip in the comparisons: small enough to act on some of these tokens. */
const CLIP = 1;

/** Random q, k, v, gates and an initial carry (every tensor an input we differentiate). */
function setup(m: MemoryModel, seed = 1, gates = true, scale = 0.5) {
  const inputs: NeuralMemoryInputs = {
    q: rand([B, H, T, D], seed) as tf.Tensor4D,
    k: rand([B, H, T, D], seed + 1, 0.7) as tf.Tensor4D,
    v: rand([B, H, T, D], seed + 2) as tf.Tensor4D,
    lr: tf.mul(tf.sigmoid(rand([B, H, T], seed + 3)), 0.15) as tf.Tensor3D,
    logMomentum: gates
      ? (tf.neg(tf.softplus(rand([B, H, T], seed + 4))) as tf.Tensor3D)
      : undefined,
    logRetain: gates
      ? (tf.neg(tf.mul(tf.softplus(rand([B, H, T], seed + 5)), 0.2)) as tf.Tensor3D)
      : undefined,
  };
  const weights = m.shapes.map((s, i) => rand([B, H, ...s], seed + 10 + i, scale));
  const carry: NeuralMemoryCarry = {
    weights,
    momentum: m.shapes.map((s, i) => rand([B, H, ...s], seed + 20 + i, 0.05)),
    base: weights,
  };
  return { inputs, carry };
}

type Form = 'chunk' | 'recurrent';

/** ℓ_q retention divides by ‖A‖_q^{q−2}: start it near norm 1, so W stays O(1) as the others. */
const weightScale = (miras: MirasChoice) => (miras.retention === 'lq' && miras.q > 2 ? 1 : 0.5);

/** The loss each bias is the gradient of: ‖e‖², Σ (e² + ε)^{p/2}, Huber = e² − relu(|e| − δ)². */
function mirasLoss(choice: MirasChoice, e: tf.Tensor): tf.Scalar {
  if (choice.attentionalBias === 'l2') return tf.sum(tf.square(e));
  if (choice.attentionalBias === 'lp')
    return tf.sum(tf.pow(tf.add(tf.square(e), 1e-6), choice.p / 2));
  const over = tf.relu(tf.sub(tf.abs(e), choice.huberDelta));
  return tf.sum(tf.sub(tf.square(e), tf.square(over)));
}

/** y of the op and the gradient of Σ y·w with respect to every input and the initial weights. */
function run(m: MemoryModel, miras: MirasChoice, form: Form, chunkSize: number, seed = 1) {
  const { inputs, carry } = setup(m, seed, true, weightScale(miras));
  const names = ['q', 'k', 'v', 'lr', 'logMomentum', 'logRetain'] as const;
  const xs = [...names.map((n) => inputs[n]!), ...carry.weights];
  const f = (...ts: tf.Tensor[]) => {
    const given = Object.fromEntries(
      names.map((n, i) => [n, ts[i]]),
    ) as unknown as NeuralMemoryInputs;
    const w = ts.slice(names.length);
    const r = neuralMemory(
      given,
      { weights: w, momentum: carry.momentum, base: w },
      {
        model: m,
        miras,
        form,
        chunkSize,
        gradientClip: CLIP,
      },
    );
    tf.dispose([...r.state.weights, ...r.state.momentum]);
    return r.output;
  };
  const y = f(...xs);
  const w = rand(y.shape, 99);
  const grads = tf.grads((...ts: tf.Tensor[]) => tf.sum(tf.mul(f(...ts), w)))(xs);
  return { y, grads };
}

/**
 * Token by token with the inner gradient from tf.grad (autodiff), independent of memoryGradients,
 * clipped to norm CLIP (all matrices together, per batch and head).
 */
function tokenByToken(m: MemoryModel, miras: MirasChoice, seed = 1): tf.Tensor {
  const { inputs, carry } = setup(m, seed, true, weightScale(miras));
  const per = (x: tf.Tensor) => tf.unstack(x, 2);
  const [qs, ks, vs, lrs, lms, lrt] = [
    inputs.q,
    inputs.k,
    inputs.v,
    inputs.lr,
    inputs.logMomentum!,
    inputs.logRetain!,
  ].map(per);
  let a = carry.weights;
  let s = carry.momentum;
  const bias = (e: tf.Tensor) => mirasLoss(miras, e);
  const ys: tf.Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const w = a.map((x) => retain(miras, x));
    const k = tf.expandDims(ks[t]!, 2);
    const v = tf.expandDims(vs[t]!, 2);
    const g = tf.grads((...ws: tf.Tensor[]) => bias(tf.sub(applyMemory(m, ws, k), v)) as tf.Scalar)(
      w,
    );
    const scalar = (x: tf.Tensor) => tf.reshape(x, [B, H, 1, 1]);
    const norm = tf.sqrt(tf.addN(g.map((gl) => tf.sum(tf.square(gl), [-2, -1]))));
    const step = tf.mul(lrs[t]!, tf.minimum(1, tf.div(CLIP, norm)));
    s = s.map((sl, l) => tf.sub(tf.mul(tf.exp(scalar(lms[t]!)), sl), tf.mul(scalar(step), g[l]!)));
    a = a.map((al, l) => tf.add(tf.mul(tf.exp(scalar(lrt[t]!)), al), s[l]!));
    ys.push(
      applyMemory(
        m,
        a.map((x) => retain(miras, x)),
        tf.expandDims(qs[t]!, 2),
      ),
    );
  }
  return tf.concat(ys, 2);
}

describe('neuralMemory (Titans eqs. 12-18)', () => {
  describe.each(KINDS)('%s memory', (kind) => {
    const m = model(kind);

    it('memoryGradients equals finite differences of the loss and autodiff (every bias)', () => {
      for (const choice of Object.values(MIRAS_PRESETS)) {
        tf.tidy(() => {
          const weights = m.shapes.map((s, i) => rand([1, 1, ...s], 30 + i, 0.6));
          const k = rand([1, 1, 1, D], 40) as tf.Tensor4D;
          const v = rand([1, 1, 1, D], 41) as tf.Tensor4D;
          const explicit = memoryGradients(m, weights, k, v, biasGradient(choice)).map((g) =>
            tf.squeeze(g, [2]),
          );
          // The loss whose gradient biasGradient is.
          const loss = (ws: tf.Tensor[]) => mirasLoss(choice, tf.sub(applyMemory(m, ws, k), v));
          const auto = tf.grads((...ws: tf.Tensor[]) => loss(ws) as tf.Scalar)(weights);
          explicit.forEach((g, l) => expectClose(g, auto[l]!, { atol: 1e-5, rtol: 1e-4 }));
          // Central differences on a few coordinates of each matrix.
          const eps = 1e-2;
          weights.forEach((w, l) => {
            const values = w.dataSync();
            const grad = explicit[l]!.dataSync();
            for (const i of [0, Math.floor(values.length / 2), values.length - 1]) {
              const shifted = (delta: number) => {
                const copy = Float32Array.from(values);
                copy[i]! += delta;
                const ws = weights.map((x, j) => (j === l ? tf.tensor(copy, w.shape) : x));
                return loss(ws).dataSync()[0]!;
              };
              const numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
              expect(Math.abs(numeric - grad[i]!)).toBeLessThan(5e-3 + 2e-2 * Math.abs(grad[i]!));
            }
          });
        });
      }
    });

    it.each([1, 3])(
      'chunk form equals the recurrent form, chunk size %i (outputs, gradients)',
      (c) => {
        tf.tidy(() => {
          const chunk = run(m, MIRAS_PRESETS.titans, 'chunk', c);
          const steps = run(m, MIRAS_PRESETS.titans, 'recurrent', c);
          expect(maxAbsDiff(chunk.y, steps.y)).toBeLessThanOrEqual(1e-4);
          chunk.grads.forEach((g, i) =>
            expect(maxAbsDiff(g, steps.grads[i]!)).toBeLessThanOrEqual(1e-4),
          );
        });
      },
    );

    it('chunk size 1 equals the token-by-token rule with autodiff inner gradients', () => {
      tf.tidy(() => {
        const chunked = run(m, MIRAS_PRESETS.titans, 'chunk', 1).y;
        expect(maxAbsDiff(chunked, tokenByToken(m, MIRAS_PRESETS.titans))).toBeLessThanOrEqual(
          1e-4,
        );
      });
    });

    it('a larger chunk takes its gradients at the chunk start (differs from chunk size 1)', () => {
      tf.tidy(() => {
        const one = run(m, MIRAS_PRESETS.titans, 'chunk', 1).y;
        const four = run(m, MIRAS_PRESETS.titans, 'chunk', 4).y;
        expect(maxAbsDiff(one, four)).toBeGreaterThan(1e-4);
      });
    });

    it('learning rate 0 and no forgetting: a fixed MLP (y = M_0(q), weights unchanged)', () => {
      tf.tidy(() => {
        const { inputs, carry } = setup(m, 5, false);
        const r = neuralMemory({ ...inputs, lr: tf.zerosLike(inputs.lr) }, carry, {
          model: m,
          miras: MIRAS_PRESETS.titans,
          chunkSize: 3,
        });
        expectClose(r.output, applyMemory(m, carry.weights, inputs.q), { atol: 1e-6 });
        r.state.weights.forEach((w, l) => expectClose(w, carry.weights[l]!, { atol: 1e-7 }));
      });
    });
  });

  it('gradients through the inner update match finite differences (the outer model trains)', () => {
    const m = model('mlp');
    const { inputs, carry } = setup(m, 7);
    const f = (k: tf.Tensor, v: tf.Tensor, w0: tf.Tensor) =>
      neuralMemory(
        { ...inputs, k: k as tf.Tensor4D, v: v as tf.Tensor4D },
        {
          weights: [w0, carry.weights[1]!],
          momentum: carry.momentum,
          base: [w0, carry.weights[1]!],
        },
        { model: m, miras: MIRAS_PRESETS.titans, chunkSize: 2 },
      ).output;
    finiteDifferenceCheck(f, [inputs.k, inputs.v, carry.weights[0]!], { maxChecks: 12 });
  });

  it('linear memory without momentum or forgetting is the delta rule with β = 2θ', () => {
    tf.tidy(() => {
      const m = model('linear');
      const { inputs, carry } = setup(m, 11, false);
      const zero = carry.weights.map((w) => tf.zerosLike(w));
      const r = neuralMemory(
        inputs,
        { weights: zero, momentum: zero, base: zero },
        {
          model: m,
          miras: MIRAS_PRESETS.titans,
          chunkSize: 1,
          gradientClip: Infinity, // the paper's rule unclipped
        },
      );
      const delta = deltaRule(inputs.q, inputs.k, inputs.v, tf.mul(inputs.lr, 2) as tf.Tensor3D, {
        form: 'recurrent',
        scale: 1,
      });
      expectClose(r.output, delta.output, { atol: 1e-5 });
    });
  });

  describe('gradient clip (each token’s ∇ℓ scaled down to norm τ)', () => {
    it.each(KINDS)(
      '%s memory: one token moves the weights by θ·min(‖∇ℓ‖, τ), whatever the error’s scale',
      (kind) => {
        tf.tidy(() => {
          const m = model(kind);
          const { inputs, carry } = setup(m, 13, false);
          const one = (x: tf.Tensor) => tf.split(x, [1, T - 1], 2)[0]!;
          for (const scale of [0.01, 1, 100]) {
            const token = {
              q: one(inputs.q) as tf.Tensor4D,
              k: one(inputs.k) as tf.Tensor4D,
              // v = M_0(k) + scale·noise: the error, and so ∇ℓ, grows with the scale.
              v: tf.add(
                applyMemory(m, carry.weights, one(inputs.k)),
                tf.mul(one(inputs.v), scale),
              ) as tf.Tensor4D,
              lr: one(inputs.lr) as tf.Tensor3D,
            };
            const step = (clip: number) => {
              const r = neuralMemory(token, carry, {
                model: m,
                miras: MIRAS_PRESETS.titans,
                chunkSize: 1,
                gradientClip: clip,
              });
              // ‖A_1 − A_0‖ over all matrices, per batch and head [B, H].
              return tf.sqrt(
                tf.addN(
                  r.state.weights.map((w, l) =>
                    tf.sum(tf.square(tf.sub(w, carry.weights[l]!)), [-2, -1]),
                  ),
                ),
              );
            };
            const free = step(Infinity); // θ‖∇ℓ‖
            const theta = tf.reshape(token.lr, [B, H]);
            const want = tf.minimum(free, tf.mul(theta, CLIP));
            expectClose(step(CLIP), want, { atol: 1e-5, rtol: 1e-4 });
            // Small values: under the clip, the update is the paper's; large ones: capped.
            const ratio = tf.div(free, tf.mul(theta, CLIP)).dataSync();
            if (scale === 0.01) expect(Math.max(...ratio)).toBeLessThan(1);
            if (scale === 100) expect(Math.min(...ratio)).toBeGreaterThan(1);
          }
        });
      },
    );

    it('acts on the comparison inputs (clipped and unclipped runs differ)', () => {
      tf.tidy(() => {
        const m = model('mlp');
        const { inputs, carry } = setup(m);
        const y = (gradientClip: number) =>
          neuralMemory(inputs, carry, {
            model: m,
            miras: MIRAS_PRESETS.titans,
            chunkSize: 3,
            gradientClip,
          }).output;
        expect(maxAbsDiff(y(CLIP), y(Infinity))).toBeGreaterThan(1e-3);
      });
    });
  });

  describe('Miras choices on the same module (It’s All Connected, sec. 5)', () => {
    const m = model('mlp');
    it.each(['moneta', 'yaad', 'memora'] as const)(
      '%s: chunk form equals the recurrent form and the autodiff token-by-token rule',
      (name) => {
        tf.tidy(() => {
          const choice = { ...MIRAS_PRESETS[name], huberDelta: 0.3 };
          const chunk = run(m, choice, 'chunk', 3);
          const steps = run(m, choice, 'recurrent', 3);
          expect(maxAbsDiff(chunk.y, steps.y)).toBeLessThanOrEqual(1e-4);
          chunk.grads.forEach((g, i) =>
            expect(maxAbsDiff(g, steps.grads[i]!)).toBeLessThanOrEqual(1e-4),
          );
          const one = run(m, choice, 'chunk', 1).y;
          expect(maxAbsDiff(one, tokenByToken(m, choice))).toBeLessThanOrEqual(1e-4);
          // Each is a different memory from Titans' on the same inputs.
          expect(maxAbsDiff(one, run(m, MIRAS_PRESETS.titans, 'chunk', 1).y)).toBeGreaterThan(1e-3);
        });
      },
    );

    it('reduce to Titans at their l2 limits (p = q = 2; Huber with a δ above every error)', () => {
      tf.tidy(() => {
        const titans = run(m, MIRAS_PRESETS.titans, 'chunk', 3).y;
        const moneta = run(m, { ...MIRAS_PRESETS.moneta, p: 2, q: 2 }, 'chunk', 3).y;
        const yaad = run(m, { ...MIRAS_PRESETS.yaad, huberDelta: 1e6 }, 'chunk', 3).y;
        expect(maxAbsDiff(moneta, titans)).toBeLessThanOrEqual(1e-6);
        expect(maxAbsDiff(yaad, titans)).toBeLessThanOrEqual(1e-6);
      });
    });

    it('retentions: ℓ_q divides by ‖A‖_q^{q−2}; KL gives columns that are distributions', () => {
      tf.tidy(() => {
        const a = rand([1, 1, 3, 4], 3);
        const lq = retain(MIRAS_PRESETS.moneta, a);
        const norm = Math.pow(tf.sum(tf.pow(tf.abs(a), 4)).dataSync()[0]!, 1 / 4);
        expectClose(lq, tf.div(a, norm * norm), { atol: 1e-5 });
        const kl = retain(MIRAS_PRESETS.memora, a);
        expectClose(tf.sum(kl, 2), tf.ones([1, 1, 4]), { atol: 1e-6 });
        expect(tf.min(kl).dataSync()[0]).toBeGreaterThan(0);
      });
    });
  });

  it('refuses a chunk size <= 0, a clip <= 0, a memory depth 0 and mismatched shapes with typed one-line errors', () => {
    const m = model('mlp');
    const { inputs, carry } = setup(m);
    const call = (chunkSize: number) => () =>
      neuralMemory(inputs, carry, { model: m, miras: MIRAS_PRESETS.titans, chunkSize });
    for (const bad of [0, -2]) {
      expect(call(bad)).toThrow(ConfigError);
      expect(call(bad)).toThrow(/chunkSize.*>= 1/);
    }
    const clip = () =>
      neuralMemory(inputs, carry, { model: m, miras: MIRAS_PRESETS.titans, gradientClip: 0 });
    expect(clip).toThrow(ConfigError);
    expect(clip).toThrow(/gradientClip.*> 0/);
    expect(() => memoryModel('mlp', 4, 4, 0)).toThrow(ConfigError);
    expect(() => memoryModel('mlp', 4, 4, 0)).toThrow(/memoryDepth/);
    expect(() => memoryModel('mlp', 4, 4, 1)).toThrow(/>= 2 for 'mlp'/);
    const wide = rand([B, H, T, D + 1], 1) as tf.Tensor4D;
    expect(() =>
      neuralMemory({ ...inputs, v: wide }, carry, { model: m, miras: MIRAS_PRESETS.titans }),
    ).toThrow(ShapeError);
    try {
      call(0)();
    } catch (e) {
      expect(String((e as Error).message)).not.toContain('\n');
    }
  });

  it('leaks nothing (forward and backward)', async () => {
    const m = model('swiglu');
    const { inputs, carry } = setup(m);
    await expectNoLeaks(() => {
      const r = neuralMemory(inputs, carry, {
        model: m,
        miras: MIRAS_PRESETS.moneta,
        chunkSize: 3,
      });
      const fresh = r.state.base.filter((t) => !carry.weights.includes(t));
      tf.dispose([r.output, ...r.state.weights, ...r.state.momentum, ...fresh]);
      const g = tf.grad((k: tf.Tensor) =>
        tf.sum(
          neuralMemory({ ...inputs, k: k as tf.Tensor4D }, carry, {
            model: m,
            miras: MIRAS_PRESETS.memora,
            chunkSize: 2,
          }).output,
        ),
      )(inputs.k);
      g.dispose();
    });
  });
});
