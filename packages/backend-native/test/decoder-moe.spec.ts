// The fused decoder's mixture-of-experts feed-forward (csrc/decoder_moe.cc): moe-lm-tiny and
// other routing choices decode fused, with the logits and greedy tokens of routing's MoE run
// through the tfjs kernels (fused: false), at batch 1, 2 and 3.
import * as tf from '@tensorflow/tfjs-core';
import '@attnkit/attention';
import '@attnkit/positional';
import { MoE, TopKRouter } from '@attnkit/routing';
import {
  type DecoderLM,
  type DecoderLmConfig,
  fusedDecoderSpec,
  fusedDecodingSupport,
  generate,
  generateBatch,
  getPreset,
  openBatchDecoding,
  openDecoding,
} from '@attnkit/models';
import type { FusedDecoderMoE, FusedDecoderSpec } from '../src/index';
import { packDecoder } from '../src/decoder';
import { buildModel, maxDiff, randomIds } from './decoder-helpers';
import { useNativeBackend } from './helpers';

useNativeBackend();

const moeTiny = getPreset('moe-lm-tiny') as DecoderLmConfig;

/** Sigmoid scores with a balancing bias, gates not renormalised, MLP experts with biases. */
const sigmoidMoE: DecoderLmConfig = {
  ...moeTiny,
  maxLength: 32,
  block: {
    ...moeTiny.block,
    placement: 'post',
    feedForward: {
      type: 'moe',
      numExperts: 5,
      topK: 3,
      numSharedExperts: 2,
      sharedHiddenDim: 12,
      router: { type: 'topk-router', scoring: 'sigmoid', balanceBias: true, normalize: false },
      expert: { type: 'mlp', hiddenDim: 16, activation: 'gelu', bias: true },
    },
  },
};

/** Top-1 softmax routing (gates not renormalised), no shared expert, GEGLU experts. */
const top1: DecoderLmConfig = {
  ...moeTiny,
  maxLength: 32,
  block: {
    ...moeTiny.block,
    feedForward: {
      type: 'moe',
      numExperts: 3,
      topK: 1,
      expert: { type: 'geglu', hiddenDim: 24 },
    },
  },
};

function moeOf(model: DecoderLM, layer: number): MoE {
  return model.blocks[layer]!.feedForward as unknown as MoE;
}

/** A balancing bias that changes which experts win (as DeepSeek-V3's updates would). */
function biasRouters(model: DecoderLM): void {
  for (let i = 0; i < model.config.numLayers; i++) {
    const router = moeOf(model, i).router as TopKRouter;
    router.updateBalanceBias([9, 0, 4, 1, 7], 0.2);
  }
}

/** A prompt per sequence (lengths 6, 11, 2), then one token each step, sequence 2 waiting at odd steps. */
function schedule(batch: number, vocab: number, steps: number): number[][][] {
  const lengths = [6, 11, 2];
  const out = [Array.from({ length: batch }, (_, b) => randomIds(lengths[b]!, vocab, 30 + b))];
  for (let s = 0; s < steps; s++) {
    out.push(
      Array.from({ length: batch }, (_, b) =>
        b === 2 && s % 2 === 1 ? [] : [(s * 11 + b) % vocab],
      ),
    );
  }
  return out;
}

describe('fused mixture-of-experts decoding on native', () => {
  const cases: [string, DecoderLmConfig, ((m: DecoderLM) => void)?][] = [
    ['moe-lm-tiny (softmax top-2 of 8, 1 shared swiglu)', moeTiny],
    [
      'sigmoid top-3 of 5 with a balancing bias, unnormalised, 2 shared mlps, post-norm',
      sigmoidMoE,
      biasRouters,
    ],
    ['softmax top-1 of 3, geglu experts', top1],
  ];
  for (const [name, config, prepare] of cases) {
    for (const batch of [1, 2, 3]) {
      test(`${name}, batch ${batch}: logits equal the unfused decode at every step`, async () => {
        const model = buildModel(config, 9);
        prepare?.(model);
        expect(fusedDecodingSupport(model)).toEqual({ supported: true });
        const fused = openBatchDecoding(model, batch);
        const plain = openBatchDecoding(model, batch, { fused: false });
        expect([fused.mode, plain.mode]).toEqual(['fused', 'cache']);
        let worst = 0;
        for (const inputs of schedule(batch, model.config.vocabSize, 18)) {
          const a = await fused.next(inputs);
          const b = await plain.next(inputs);
          inputs.forEach((input, s) => {
            expect(a[s] === null).toBe(input.length === 0);
            if (a[s]) worst = Math.max(worst, maxDiff(a[s]!, b[s]!));
          });
        }
        expect(worst).toBeLessThan(1e-4);
        fused.dispose();
        plain.dispose();
        model.dispose();
      });
    }
  }

  test('the routing matters: another expert choice gives other logits', async () => {
    // Guards the comparison above against a decoder that ignores the router: the same model
    // with the balancing bias moved must give different fused logits.
    const model = buildModel(sigmoidMoE, 9);
    const prompt = randomIds(6, model.config.vocabSize, 1);
    const before = Float32Array.from(await openDecoding(model).next(prompt));
    biasRouters(model);
    const after = openDecoding(model);
    expect(maxDiff(before, await after.next(prompt))).toBeGreaterThan(1e-3);
    after.dispose();
    model.dispose();
  });

  test('moe-lm-tiny: generate and generateBatch give the fused: false tokens; nothing leaks', async () => {
    const model = buildModel(moeTiny, 4);
    const vocab = model.config.vocabSize;
    const options = { maxTokens: 24, temperature: 0 };
    const prompts = [randomIds(8, vocab, 1), randomIds(3, vocab, 2), randomIds(12, vocab, 3)];
    const before = tf.memory().numTensors;
    const single = await generate(model, prompts[0]!, options);
    const batched = await generateBatch(model, prompts, options);
    expect(tf.memory().numTensors).toBe(before);
    expect(single).toEqual(await generate(model, prompts[0]!, { ...options, fused: false }));
    expect(batched).toEqual(await generateBatch(model, prompts, { ...options, fused: false }));
    expect(batched[0]).toEqual(single);
    model.dispose();
  });

  test('a MoE it cannot run falls back to the tfjs decode, saying why', () => {
    const withFeedForward = (feedForward: {
      type: string;
      [key: string]: unknown;
    }): DecoderLmConfig => ({
      ...top1,
      block: { ...top1.block, feedForward },
    });
    const moe = { type: 'moe', numExperts: 3, topK: 1, expert: { type: 'swiglu', hiddenDim: 8 } };
    const cases: [DecoderLmConfig, string][] = [
      [
        withFeedForward({ ...moe, capacityFactor: 1.5 }),
        'layers[0].feedForward has a capacityFactor (routing depends on the other tokens)',
      ],
      [
        withFeedForward({ ...moe, router: { type: 'noisy-topk-router' } }),
        "layers[0].feedForward.router 'noisy-topk-router' is not topk-router",
      ],
      [
        withFeedForward({ ...moe, router: { type: 'topk-router', capacityFactor: 2 } }),
        'layers[0].feedForward.router has a capacityFactor (routing depends on the other tokens)',
      ],
    ];
    for (const [config, reason] of cases) {
      const model = buildModel(config);
      expect(fusedDecodingSupport(model)).toEqual({ supported: false, reason });
      model.dispose();
    }
    const model = buildModel(top1);
    moeOf(model, 1).setExpertControl({ disabled: [0] });
    expect(fusedDecodingSupport(model)).toEqual({
      supported: false,
      reason: 'layers[1].feedForward has an expert control set (setExpertControl)',
    });
    const decoding = openDecoding(model);
    expect(decoding.mode).toBe('cache');
    decoding.dispose();
    model.dispose();
  });

  test('a wrong MoE spec names the field; the addon refuses a mismatched layout', () => {
    const model = buildModel(moeTiny);
    const spec = fusedDecoderSpec(model) as FusedDecoderSpec;
    const moe = spec.layers[0]!.feedForward as FusedDecoderMoE;
    const withMoE = (over: Partial<FusedDecoderMoE>) => ({
      ...spec,
      layers: [{ ...spec.layers[0]!, feedForward: { ...moe, ...over } }, spec.layers[1]!],
    });
    expect(() => packDecoder(withMoE({ topK: 9 }))).toThrow(
      'fused-decoder: layers[0].feedForward.topK must be at most 8 (the experts), got 9',
    );
    expect(() => packDecoder(withMoE({ router: { weight: new Float32Array(8) } }))).toThrow(
      'fused-decoder: layers[0].feedForward.router.weight must be a Float32Array of 512 values ([64, 8]), got a Float32Array of 8',
    );
    expect(() => packDecoder(withMoE({ scoring: 'relu' as 'softmax' }))).toThrow(
      "fused-decoder: layers[0].feedForward.scoring must be 'softmax' or 'sigmoid', got relu",
    );
    expect(() => packDecoder(withMoE({ selectionBias: new Float32Array(3) }))).toThrow(
      /layers\[0\]\.feedForward\.selectionBias must be a Float32Array of 8 values/,
    );
    expect(() => packDecoder(withMoE({ experts: [] }))).toThrow(
      'fused-decoder: layers[0].feedForward.experts must be a non-empty array, got Array',
    );
    // The addon on its own: ints that claim more experts than the weights hold, a topK above
    // the experts, and one weight too few.
    const packed = packDecoder(spec);
    const addon = (tf.backend() as unknown as { addon: { decoderStep: (...a: unknown[]) => void } })
      .addon;
    const caches = packed.cacheSizes.flatMap((n) => [new Float32Array(n), new Float32Array(n)]);
    const call =
      (ints: Int32Array, weights = packed.weights) =>
      () =>
        addon.decoderStep(
          ints,
          packed.floats,
          weights,
          caches,
          Int32Array.of(1),
          Int32Array.of(1),
          Int32Array.of(0),
          null,
        );
    expect(call(packed.ints)).not.toThrow();
    const experts = 8 + 8; // layer 0's numExperts after the header and its 8 attention ints
    expect(packed.ints[experts]).toBe(8);
    const more = Int32Array.from(packed.ints);
    more[experts] = 9;
    expect(call(more)).toThrow(
      /decoderStep: argument 2 layer 0 feedForward router must hold 576 values, got 512/,
    );
    const topK = Int32Array.from(packed.ints);
    topK[experts + 2] = 9;
    expect(call(topK)).toThrow(
      'decoderStep: argument 0 layer 0 feedForward topK must be in [1, 8], got 9',
    );
    expect(call(packed.ints, packed.weights.slice(0, -1))).toThrow(
      /decoderStep: argument 2 has no element \d+ \(layer 1 feedForward shared expert 0 down\)/,
    );
    model.dispose();
  });
});
