// The fused decoder (csrc/decoder.cc): one native call per token gives the logits and greedy
// tokens of @attnkit/models' unfused cached decoding, for every kind of part it runs.
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@attnkit/core';
import '@attnkit/attention';
import '@attnkit/positional';
import '@attnkit/routing';
import {
  type DecoderLmConfig,
  DecoderLM,
  fusedDecodingSupport,
  fusedDecoderSpec,
  generate,
  generateStream,
  openDecoding,
  getPreset,
} from '@attnkit/models';
import type { FusedDecoderSpec } from '../src/index';
import { packDecoder } from '../src/decoder';
import { useNativeBackend } from './helpers';

useNativeBackend();

const base: DecoderLmConfig = {
  type: 'decoder-lm',
  vocabSize: 37,
  dModel: 24,
  numLayers: 2,
  maxLength: 20,
  positional: { type: 'rotary', headDim: 6 },
  block: {
    mixer: { type: 'gqa', numHeads: 4, numKvHeads: 2 },
    feedForward: { type: 'swiglu', hiddenDim: 40 },
    norm: { type: 'rms-norm' },
    placement: 'pre',
  },
  finalNorm: { type: 'rms-norm' },
  tieEmbeddings: true,
};

/** Variants covering each option the native step implements. */
const variants: Record<string, DecoderLmConfig> = {
  'llama-tiny preset': getPreset('llama-tiny') as DecoderLmConfig,
  'gpt-tiny preset (learned positions, layer-norm, gelu mlp with biases)': getPreset(
    'gpt-tiny',
  ) as DecoderLmConfig,
  'mqa, interleaved partial rotary, post-norm, geglu with bias, own head': {
    ...base,
    positional: { type: 'rotary', headDim: 6, rotaryDim: 4, layout: 'interleaved', base: 500 },
    block: {
      mixer: { type: 'mqa', numHeads: 4, bias: true },
      feedForward: { type: 'geglu', hiddenDim: 40, bias: true },
      norm: { type: 'layer-norm', bias: false },
      placement: 'post',
    },
    finalNorm: { type: 'layer-norm' },
    tieEmbeddings: false,
  },
  'streaming (window + sinks), sinusoidal positions, relu2 mlp, rms-norm without weight': {
    ...base,
    positional: { type: 'sinusoidal' },
    block: {
      mixer: { type: 'streaming', numHeads: 3, window: 4, numSinkTokens: 2 },
      feedForward: { type: 'mlp', hiddenDim: 32, activation: 'relu2' },
      norm: { type: 'rms-norm', affine: false, eps: 1e-3 },
    },
  },
  'no positions, sliding window with headDim, gelu-tanh glu, an mha layer override': {
    ...base,
    positional: { type: 'nope' },
    block: {
      mixer: { type: 'sliding-window', numHeads: 2, window: 3, headDim: 8 },
      feedForward: { type: 'glu', hiddenDim: 16, activation: 'gelu-tanh' },
    },
    layerOverrides: { '1': { mixer: { type: 'mha', numHeads: 6 } } },
  },
  'wide enough for the threaded matrix-vector products and head': {
    ...base,
    vocabSize: 300,
    dModel: 256,
    numLayers: 1,
    maxLength: 12,
    positional: { type: 'rotary', headDim: 64 },
    block: {
      mixer: { type: 'mha', numHeads: 4 },
      feedForward: { type: 'swiglu', hiddenDim: 512 },
    },
  },
  'rotary with yarn scaling (logit temperature)': {
    ...base,
    positional: {
      type: 'rotary',
      headDim: 6,
      scaling: { type: 'yarn', factor: 4, originalMaxPosition: 8 },
    },
  },
};

function build(config: DecoderLmConfig, seed = 3): DecoderLM {
  const model = core.build<DecoderLM>(config, { rng: new core.Rng(seed) });
  model.eval();
  return model;
}

function ids(n: number, vocab: number, seed: number): number[] {
  const rng = new core.Rng(seed);
  return Array.from({ length: n }, () => Math.floor(rng.uniform() * vocab));
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('fused decoder on native', () => {
  for (const [name, config] of Object.entries(variants)) {
    test(`${name}: logits equal the unfused cached decode at every step`, async () => {
      const model = build(config);
      const tokens = ids(model.config.maxLength, model.config.vocabSize, 11);
      const fused = openDecoding(model);
      const plain = openDecoding(model, { fused: false });
      expect(fused.mode).toBe('fused');
      expect(plain.mode).toBe('cache');
      // A 7-token prompt at once (past the streaming window and sinks), then one token at a
      // time to the end of the context.
      let worst = 0;
      for (let at = 0; at < tokens.length;) {
        const input = at === 0 ? tokens.slice(0, 7) : [tokens[at]!];
        const a = Float32Array.from(await fused.next(input));
        const b = await plain.next(input);
        expect(a.length).toBe(model.config.vocabSize);
        worst = Math.max(worst, maxDiff(a, b));
        at += input.length;
      }
      expect(worst).toBeLessThan(1e-4);
      fused.dispose();
      plain.dispose();
      model.dispose();
    });
  }

  test('greedy generation gives the same tokens fused and unfused; nothing leaks', async () => {
    const model = build(getPreset('llama-tiny') as DecoderLmConfig, 7);
    const prompt = ids(8, model.config.vocabSize, 2);
    const before = tf.memory().numTensors;
    const fused = await generate(model, prompt, { maxTokens: 56, temperature: 0 });
    expect(tf.memory().numTensors).toBe(before);
    const plain = await generate(model, prompt, { maxTokens: 56, temperature: 0, fused: false });
    expect(fused).toEqual(plain);
    expect(fused).toHaveLength(56);
    model.dispose();
  });

  test('follows weights replaced mid-stream, like rerunning the sequence; refuses a disposed model', async () => {
    // Greedy tokens with the weights swapped after 3 tokens: the fused decoder must give what
    // rerunning the whole sequence with the current weights gives (useCache: false).
    const config = getPreset('llama-tiny') as DecoderLmConfig;
    const donor = build(config, 21);
    const run = async (options: { useCache?: boolean }, swap: boolean) => {
      const model = build(config, 7);
      const out: number[] = [];
      for await (const id of generateStream(model, [1, 2, 3], {
        maxTokens: 10,
        temperature: 0,
        ...options,
      })) {
        out.push(id);
        if (swap && out.length === 3) model.loadStateDict(donor.stateDict());
      }
      model.dispose();
      return out;
    };
    const fused = await run({}, true);
    expect(fused).toEqual(await run({ useCache: false }, true));
    expect(fused).not.toEqual(await run({}, false));

    const model = build(config, 7);
    const stream = generateStream(model, [1, 2], { maxTokens: 5 });
    const probe = openDecoding(model);
    expect(probe.mode).toBe('fused');
    probe.dispose();
    await stream.next();
    model.dispose();
    await expect(stream.next()).rejects.toThrow(core.ConfigError);
    await expect(generate(model, [1], { maxTokens: 2 })).rejects.toThrow(
      'generate: model expected a live model, got a disposed model',
    );
    donor.dispose();
  });

  test('sampling draws the same tokens from the same seed', async () => {
    const model = build(getPreset('gpt-tiny') as DecoderLmConfig, 5);
    const options = { maxTokens: 20, temperature: 0.8, topK: 10, seed: 4 };
    const fused = await generate(model, [1, 2, 3], options);
    const plain = await generate(model, [1, 2, 3], { ...options, fused: false });
    expect(fused).toEqual(plain);
    model.dispose();
  });

  test('a model with a part it does not run falls back to the cached tfjs decode', async () => {
    const cases: [DecoderLmConfig, RegExp][] = [
      [{ ...base, positional: { type: 'alibi', numHeads: 4 } }, /positional 'alibi'/],
      [
        {
          ...base,
          block: {
            ...base.block,
            mixer: { type: 'gqa', numHeads: 4, numKvHeads: 2, qkNorm: 'rms' },
          },
        },
        /qkNorm/,
      ],
      [{ ...base, block: { ...base.block, placement: 'sandwich' } }, /sandwich/],
      [
        {
          ...base,
          block: {
            ...base.block,
            feedForward: {
              type: 'moe',
              numExperts: 2,
              topK: 1,
              capacityFactor: 1,
              expert: { type: 'swiglu', hiddenDim: 8 },
            },
          },
        },
        /layers\[0\]\.feedForward has a capacityFactor/,
      ],
    ];
    for (const [config, reason] of cases) {
      const model = build(config);
      const support = fusedDecodingSupport(model);
      expect(support.supported).toBe(false);
      expect(support.reason).toMatch(reason);
      const decoding = openDecoding(model);
      expect(decoding.mode).toBe('cache');
      decoding.dispose();
      model.dispose();
    }
  });

  test('fusedDecodingSupport names the backend when it has no fused decoder', async () => {
    const model = build(base);
    expect(fusedDecodingSupport(model).supported).toBe(true);
    await tf.setBackend('cpu');
    expect(fusedDecodingSupport(model)).toEqual({
      supported: false,
      reason: "backend 'cpu' has no fused decoder",
    });
    await tf.setBackend('native');
    model.dispose();
  });
});

describe('fused decoder input checks', () => {
  const model = build(base);
  const spec = fusedDecoderSpec(model) as FusedDecoderSpec;
  const backend = () => tf.backend() as unknown as core.FusedDecoderBackend;
  afterAll(() => model.dispose());

  test('a wrong spec names the field, the expected and the actual value', () => {
    const short = { ...spec, embedding: new Float32Array(5) };
    expect(() => backend().createFusedDecoder(short)).toThrow(
      'fused-decoder: embedding must be a Float32Array of 888 values ([37, 24]), got a Float32Array of 5',
    );
    const layers = [...spec.layers];
    layers[1] = {
      ...layers[1]!,
      attention: { ...layers[1]!.attention, numKvHeads: 3 },
    };
    expect(() => packDecoder({ ...spec, layers })).toThrow(
      'fused-decoder: layers[1].attention.numKvHeads must be a divisor of numHeads=4, got 3',
    );
    const act = [
      { ...spec.layers[0]!, feedForward: { ...spec.layers[0]!.feedForward, activation: 'swish' } },
    ];
    expect(() => packDecoder({ ...spec, layers: act })).toThrow(
      /layers\[0\]\.feedForward\.activation must be one of gelu, gelu-tanh, silu.*got swish/,
    );
    expect(() =>
      packDecoder({ ...spec, rotary: { ...spec.rotary!, layout: 'odd' as 'half' } }),
    ).toThrow("fused-decoder: rotary.layout must be 'half' or 'interleaved', got odd");
  });

  test('a prompt fed at once gives the logits and cache of feeding it token by token', () => {
    const whole = backend().createFusedDecoder(spec);
    const single = backend().createFusedDecoder(spec);
    const prompt = ids(9, spec.vocabSize, 4);
    const a = new Float32Array(spec.vocabSize);
    const b = new Float32Array(spec.vocabSize);
    whole.feed(prompt, a);
    prompt.forEach((t, i) => single.feed([t], i === prompt.length - 1 ? b : null));
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    whole.feed([5, 6], a);
    single.feed([5, 6], b);
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    expect(whole.position).toBe(11);
    whole.dispose();
    single.dispose();
  });

  test('bad tokens, a full cache and use after dispose throw', () => {
    const decoder = backend().createFusedDecoder(spec);
    const logits = new Float32Array(spec.vocabSize);
    expect(() => decoder.feed([1, 37], logits)).toThrow(
      'fused-decoder: tokens must be integers in [0, 37), got 37',
    );
    expect(() => decoder.feed([], logits)).toThrow(
      'fused-decoder: tokens must be a non-empty array of token ids, got Array',
    );
    expect(() => decoder.feed([1], new Float32Array(3))).toThrow(
      /logits must be null or a Float32Array of at least 37/,
    );
    expect(decoder.position).toBe(0);
    decoder.feed(ids(spec.maxLength - 1, 37, 1), null);
    expect(() => decoder.feed([0, 1], logits)).toThrow(
      'fused-decoder: tokens must be at most 1 more (maxLength=20, 19 fed), got 2',
    );
    decoder.feed([0], logits);
    expect(decoder.position).toBe(spec.maxLength);
    decoder.dispose();
    expect(() => decoder.feed([0], logits)).toThrow('fused-decoder: feed after dispose()');
  });

  test('the KV cache grows with the tokens fed, never allocated for maxLength up front', async () => {
    // maxLength 2^24 (the addon's bound): a full-length cache would be 2 x 2^24 x 12 floats
    // per layer, 1.5 GiB for this model; generation must cost what the sequence uses.
    const config: DecoderLmConfig = { ...base, numLayers: 1, maxLength: 1 << 24 };
    const big = build(config);
    const small = build({ ...config, maxLength: 64 });
    const before = process.memoryUsage().arrayBuffers;
    const decoder = backend().createFusedDecoder(
      fusedDecoderSpec(big) as FusedDecoderSpec,
    ) as core.FusedDecoder & { cacheBytes: number };
    const reference = openDecoding(small, { fused: false });
    const prompt = ids(5, 37, 8);
    const logits = new Float32Array(37);
    decoder.feed(prompt, logits);
    expect(maxDiff(logits, await reference.next(prompt))).toBeLessThan(1e-4);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
    expect(decoder.cacheBytes).toBe(2 * 2 * 16 * 6 * 4); // 2 caches x kvHeads x 16 rows x headDim
    // Past the first capacity (16): the cached rows move to the larger arrays intact.
    for (let i = 0; i < 30; i++) {
      const token = (i * 7) % 37;
      decoder.feed([token], logits);
      expect(maxDiff(logits, await reference.next([token]))).toBeLessThan(1e-4);
    }
    expect(decoder.position).toBe(35);
    expect(decoder.cacheBytes).toBe(2 * 2 * 64 * 6 * 4);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
    const generated = await generate(big, prompt, { maxTokens: 12, temperature: 0 });
    expect(generated).toEqual(await generate(small, prompt, { maxTokens: 12, temperature: 0 }));
    decoder.dispose();
    reference.dispose();
    big.dispose();
    small.dispose();
  });

  test('the addon itself refuses arrays that do not match the layout (no crash)', () => {
    const packed = packDecoder(spec);
    const addon = (tf.backend() as unknown as { addon: { decoderStep: (...a: unknown[]) => void } })
      .addon;
    const caches = packed.cacheSizes.flatMap((n) => [new Float32Array(n), new Float32Array(n)]);
    const logits = new Float32Array(37);
    const call = (over: Partial<Record<string, unknown>>) => () =>
      addon.decoderStep(
        over.ints ?? packed.ints,
        packed.floats,
        over.weights ?? packed.weights,
        over.caches ?? caches,
        over.tokens ?? Int32Array.of(1, 2),
        over.counts ?? Int32Array.of(2),
        over.firsts ?? Int32Array.of(0),
        over.logits === undefined ? logits : over.logits,
      );
    expect(call({})).not.toThrow();
    const weights = [...packed.weights];
    weights[6] = new Float32Array(3);
    expect(call({ weights })).toThrow('decoderStep: argument 2 norm1 must hold 24 values, got 3');
    expect(call({ caches: caches.slice(1) })).toThrow(
      'decoderStep: argument 3 must hold 2 caches per layer',
    );
    const ints = Int32Array.from(packed.ints);
    ints[3] = 5;
    expect(call({ ints })).toThrow('decoderStep: argument 1 holds 7 elements, needs 16');
    expect(call({ ints: packed.ints.slice(0, 29) })).toThrow(
      'decoderStep: argument 0 holds 29 values, ends before layer 1 feedForward gated',
    );
    expect(call({ ints: Int32Array.of(...packed.ints, 0) })).toThrow(
      'decoderStep: argument 0 holds 33 values, the layers use 32',
    );
    expect(call({ weights: [...packed.weights, null] })).toThrow(
      'decoderStep: argument 2 holds 43 entries, the layers use 42',
    );
    expect(call({ tokens: Int32Array.of(3, 99) })).toThrow(
      'decoderStep: argument 4 holds token 99 outside [0, 37)',
    );
    expect(call({ tokens: new Int32Array(0), counts: Int32Array.of(0) })).toThrow(
      'decoderStep: argument 4 must hold at least one token',
    );
    expect(call({ tokens: [1] })).toThrow('decoderStep: argument 4 must be a typed array');
    expect(call({ firsts: Int32Array.of(19) })).toThrow(
      'decoderStep: argument 6 position 19 plus 2 tokens of sequence 0 passes maxLength=20',
    );
    // A batch of 2 needs caches twice as large, a position per sequence and counts that sum to
    // the tokens given; the logits hold a row per sequence.
    const two = { counts: Int32Array.of(1, 1), firsts: Int32Array.of(0, 0) };
    expect(call(two)).toThrow('decoderStep: argument 3 key cache must hold 480 values, got 240');
    const big = packed.cacheSizes.flatMap((n) => [
      new Float32Array(2 * n),
      new Float32Array(2 * n),
    ]);
    expect(call({ ...two, caches: big, logits: null })).not.toThrow();
    expect(call({ ...two, caches: big })).toThrow(
      'decoderStep: argument 7 holds 37 elements, needs 74',
    );
    expect(call({ ...two, caches: big, firsts: Int32Array.of(0) })).toThrow(
      'decoderStep: argument 6 must hold 2 positions (one per sequence), got 1',
    );
    expect(call({ ...two, caches: big, counts: Int32Array.of(1, 2), logits: null })).toThrow(
      'decoderStep: argument 4 must hold 3 tokens (the sum of the counts), got 2',
    );
    expect(call({ counts: Int32Array.of(-1) })).toThrow(
      'decoderStep: argument 5 the count of sequence 0 must be in [0, 20], got -1',
    );
    expect(call({ counts: new Int32Array(0), firsts: new Int32Array(0) })).toThrow(
      'decoderStep: argument 5 must hold 1 to 65536 counts (one per sequence), got 0',
    );
    expect(call({ weights: [1, 2] })).toThrow(
      'decoderStep: argument 2 element 0 must be a Float32Array or null',
    );
  });
});
