// The fused decoder over a batch of sequences (csrc/decoder.cc): one native call per step for
// all of them gives each sequence the logits and greedy tokens of the unfused tfjs decode.
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@attnkit/core';
import '@attnkit/attention';
import '@attnkit/positional';
import '@attnkit/routing';
import {
  type DecoderLmConfig,
  fusedDecoderSpec,
  generate,
  generateBatch,
  getPreset,
  openBatchDecoding,
} from '@attnkit/models';
import type { FusedDecoderSpec } from '../src/index';
import { buildModel, maxDiff, randomIds } from './decoder-helpers';
import { useNativeBackend } from './helpers';

useNativeBackend();

const llama = getPreset('llama-tiny') as DecoderLmConfig;
/** llama-tiny-like with streaming attention (window + sinks) and learned positions. */
const streaming: DecoderLmConfig = {
  ...llama,
  maxLength: 40,
  positional: { type: 'learned' },
  block: {
    mixer: { type: 'streaming', numHeads: 4, window: 6, numSinkTokens: 2 },
    feedForward: { type: 'swiglu', hiddenDim: 48 },
    norm: { type: 'rms-norm' },
    placement: 'pre',
  },
};

/**
 * Steps of a ragged batch: prompts of different lengths at once, then one token per sequence,
 * sequence 1 waiting every third step (a finished sequence is fed nothing).
 */
function schedule(batch: number, vocab: number, steps: number, lengths = [5, 9, 3]): number[][][] {
  const out: number[][][] = [
    Array.from({ length: batch }, (_, b) => randomIds(lengths[b % 3]!, vocab, 10 + b)),
  ];
  for (let s = 0; s < steps; s++) {
    out.push(
      Array.from({ length: batch }, (_, b) =>
        b === 1 && s % 3 === 2 ? [] : [(s * 7 + b * 5 + 1) % vocab],
      ),
    );
  }
  return out;
}

describe('fused batched decoding on native', () => {
  // llama-tiny's longer prompts make enough attention work (> 2^16 multiply-adds) for the
  // (row, head) pairs to be split over the threads.
  for (const [name, config, lengths] of [
    ['llama-tiny', llama, [12, 36, 3]],
    ['streaming, learned positions', streaming, [5, 9, 3]],
  ] as const) {
    for (const batch of [1, 2, 3]) {
      test(`${name}, batch ${batch}: each sequence's logits equal the unfused decode`, async () => {
        const model = buildModel(config, 7);
        const fused = openBatchDecoding(model, batch);
        const plain = openBatchDecoding(model, batch, { fused: false });
        expect([fused.mode, plain.mode]).toEqual(['fused', 'cache']);
        let worst = 0;
        let compared = 0;
        // Prompts then 24 tokens: past the cache's first capacity (16), so it grows mid-stream.
        for (const inputs of schedule(batch, model.config.vocabSize, 24, [...lengths])) {
          const a = await fused.next(inputs);
          const b = await plain.next(inputs);
          inputs.forEach((input, s) => {
            expect(a[s] === null).toBe(input.length === 0);
            expect(b[s] === null).toBe(input.length === 0);
            if (!a[s]) return;
            worst = Math.max(worst, maxDiff(a[s]!, b[s]!));
            compared++;
          });
        }
        expect(compared).toBeGreaterThan(20 * batch);
        expect(worst).toBeLessThan(1e-4);
        fused.dispose();
        plain.dispose();
        model.dispose();
      });
    }
  }

  test('generateBatch: greedy tokens equal fused: false and generate() per prompt; nothing leaks', async () => {
    const model = buildModel(llama, 5);
    const vocab = model.config.vocabSize;
    for (const batch of [1, 2, 3]) {
      const prompts = Array.from({ length: batch }, (_, b) => randomIds(4 + 3 * b, vocab, b));
      const options = { maxTokens: 20, temperature: 0 };
      const before = tf.memory().numTensors;
      const fused = await generateBatch(model, prompts, options);
      expect(tf.memory().numTensors).toBe(before);
      const plain = await generateBatch(model, prompts, { ...options, fused: false });
      expect(fused).toEqual(plain);
      for (const [b, prompt] of prompts.entries()) {
        expect(fused[b]).toEqual(await generate(model, prompt, options));
      }
      expect(tf.memory().numTensors).toBe(before);
    }
    model.dispose();
  });

  test('generateBatch: each sequence stops on its own (stop token, maxLength)', async () => {
    const model = buildModel({ ...llama, maxLength: 12 }, 5);
    const prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11, 12, 13], [7]];
    const options = { maxTokens: 6, temperature: 0 };
    const free = await generateBatch(model, prompts, options);
    // The 10-token prompt reaches maxLength=12 after 3 new tokens; the others run to 6.
    expect(free.map((t) => t.length)).toEqual([6, 3, 6]);
    const stop = free[0]![2]!;
    const stopped = await generateBatch(model, prompts, { ...options, stopTokens: [stop] });
    expect(stopped).toEqual(
      await generateBatch(model, prompts, { ...options, stopTokens: [stop], fused: false }),
    );
    expect(stopped[0]).toEqual(free[0]!.slice(0, free[0]!.indexOf(stop) + 1));
    const seeded = { maxTokens: 8, temperature: 0.9, topK: 8, seed: 3 };
    expect(await generateBatch(model, [prompts[0]!], seeded)).toEqual([
      await generate(model, prompts[0]!, seeded),
    ]);
    model.dispose();
  });

  test('follows weights replaced mid-stream: re-reads each sequence (ragged) with the new ones', async () => {
    const model = buildModel(llama, 7);
    const donor = buildModel(llama, 21);
    const fused = openBatchDecoding(model, 2);
    const steps = schedule(2, model.config.vocabSize, 4);
    expect(steps[3]![1]).toEqual([]);
    // Steps 0-3 (sequence 1 waits at step 3, so the sequences differ in length), then the swap.
    for (const inputs of steps.slice(0, 4)) await fused.next(inputs);
    model.loadStateDict(donor.stateDict());
    const last = steps[4]!;
    const a = await fused.next(last);
    // What rerunning each whole sequence with the new weights gives.
    const rerun = openBatchDecoding(model, 2, { useCache: false });
    const whole = [0, 1].map((b) => steps.flatMap((s) => s[b]!));
    const b = await rerun.next(whole);
    for (const s of [0, 1]) expect(maxDiff(a[s]!, b[s]!)).toBeLessThan(1e-4);
    fused.dispose();
    rerun.dispose();
    donor.dispose();
    model.dispose();
  });
});

describe('fused batched decoding input checks', () => {
  const model = buildModel({ ...llama, maxLength: 20 });
  const spec = fusedDecoderSpec(model) as FusedDecoderSpec;
  const backend = () => tf.backend() as unknown as core.FusedDecoderBackend;
  afterAll(() => model.dispose());

  test('a wrong batch, a cache overflow and feed() on a batch session are one-line RangeErrors', () => {
    expect(() => backend().createFusedDecoder(spec, { batch: 0 })).toThrow(
      new RangeError('fused-decoder: options.batch must be an integer in [1, 65536], got 0'),
    );
    const decoder = backend().createFusedDecoder(spec, { batch: 3 });
    const logits = new Float32Array(3 * 65);
    const wrong = () => decoder.feedBatch([[1], [2]], logits);
    expect(wrong).toThrow(RangeError);
    expect(wrong).toThrow(
      'fused-decoder: tokens must be an array of 3 token arrays (one per sequence), got 2 sequences',
    );
    expect(() => decoder.feedBatch([[], [], []], logits)).toThrow(
      new RangeError('fused-decoder: tokens must be at least one token in some sequence, got none'),
    );
    expect(() => decoder.feed([1], logits)).toThrow(
      new RangeError(
        'fused-decoder: feed must be called on a session of batch 1 (use feedBatch), got a session of batch 3',
      ),
    );
    expect(() => decoder.feedBatch([[1], [65], []], logits)).toThrow(
      'fused-decoder: tokens[1] must be integers in [0, 65), got 65',
    );
    expect(() => decoder.feedBatch([[1], [2], [3]], new Float32Array(65))).toThrow(
      'fused-decoder: logits must be null or a Float32Array of at least 195 ([3, 65]), got a Float32Array of 65',
    );
    decoder.feedBatch([randomIds(18, 65, 1), [], [4]], logits);
    expect(decoder.positions).toEqual([18, 0, 1]);
    const overflow = () => decoder.feedBatch([[1, 2, 3], [5], [6]], logits);
    expect(overflow).toThrow(RangeError);
    expect(overflow).toThrow(
      'fused-decoder: tokens[0] must be at most 2 more (maxLength=20, 18 fed), got 3',
    );
    // Nothing was fed by the refused calls.
    expect(decoder.positions).toEqual([18, 0, 1]);
    decoder.feedBatch([[1, 2], randomIds(20, 65, 2), [6]], logits);
    expect(decoder.positions).toEqual([20, 20, 2]);
    decoder.dispose();
    expect(() => decoder.feedBatch([[1], [1], [1]], logits)).toThrow(
      'fused-decoder: feed after dispose()',
    );
  });

  test('generateBatch refuses bad prompts with a ConfigError naming the prompt', async () => {
    const before = tf.memory().numTensors;
    await expect(generateBatch(model, [], { maxTokens: 2 })).rejects.toThrow(
      new core.ConfigError(
        'generate',
        'prompts',
        'a non-empty array of prompts (arrays of token ids)',
        '[]',
      ),
    );
    await expect(generateBatch(model, [[1], []], { maxTokens: 2 })).rejects.toThrow(
      'generate: prompts[1] expected at least one token, got none',
    );
    await expect(generateBatch(model, [[1], [2, 70]], { maxTokens: 2 })).rejects.toThrow(
      core.ConfigError,
    );
    await expect(
      generateBatch(model, [[1], new Array(21).fill(1)], { maxTokens: 2 }),
    ).rejects.toThrow('generate: prompts[1] expected at most maxLength=20 tokens, got 21 tokens');
    expect(tf.memory().numTensors).toBe(before);
  });
});
