import * as tf from '@tensorflow/tfjs-core';
import { expectNoLeaks } from '@attnkit/core/testing';
import type { DecoderLM } from '@attnkit/models';
import { Rng } from '@attnkit/core';
import { applyRepetitionPenalty, generate, generateStream, sampleToken } from '@attnkit/models';
import { tinyLm } from './helpers';

import { describeWithBlocks } from './blocks-ready';

describeWithBlocks('generate', () => {
  let model: DecoderLM;
  beforeAll(() => {
    model = tinyLm({ maxLength: 210 }, 3);
  });
  afterAll(() => model.dispose());

  it('gives the same 200 tokens with the incremental cache as without it', async () => {
    const opts = { maxTokens: 200, temperature: 1, topK: 8, repetitionPenalty: 1.2, seed: 9 };
    const prompt = [1, 2, 3];
    const cached = await generate(model, prompt, opts);
    expect(cached).toHaveLength(200);
    // Without the cache, step t reruns the whole prefix and samples from its last position; by
    // causality that is position t of one forward over the final sequence, so one forward
    // replays all 200 uncached steps (the literal uncached loop is checked for 40 tokens below).
    const sequence = [...prompt, ...cached];
    const input = tf.tensor2d([sequence.slice(0, -1)], [1, sequence.length - 1], 'int32');
    const logits = model.forward(input);
    const rows = (await logits.array()) as number[][][];
    tf.dispose([input, logits]);
    const rng = new Rng(9);
    const replay = cached.map((_, i) => {
      const at = prompt.length - 1 + i;
      const seen = sequence.slice(0, at + 1);
      const penalised = applyRepetitionPenalty(Float32Array.from(rows[0]![at]!), seen, 1.2);
      return sampleToken(penalised, opts, rng);
    });
    expect(replay).toEqual(cached);
    const short = { maxTokens: 40, temperature: 1, seed: 4 };
    expect(await generate(model, [5, 6], short)).toEqual(
      await generate(model, [5, 6], { ...short, useCache: false }),
    );
    const greedy = await generate(model, [4], { maxTokens: 30, temperature: 0 });
    expect(greedy).toEqual(
      await generate(model, [4], { maxTokens: 30, temperature: 0, useCache: false }),
    );
  });

  it('is seeded, streams tokens, stops at stop tokens and at maxLength', async () => {
    const a = await generate(model, [1], { maxTokens: 20, seed: 1 });
    expect(await generate(model, [1], { maxTokens: 20, seed: 1 })).toEqual(a);
    const stop = a[5]!;
    const stopped = await generate(model, [1], { maxTokens: 20, seed: 1, stopTokens: [stop] });
    expect(stopped).toEqual(a.slice(0, a.indexOf(stop) + 1));
    const seen: number[] = [];
    for await (const id of generateStream(model, [1], { maxTokens: 3, seed: 1 })) seen.push(id);
    expect(seen).toEqual(a.slice(0, 3));
    const short = tinyLm({ maxLength: 6 });
    expect(await generate(short, [1, 2], { maxTokens: 100 })).toHaveLength(5);
    short.dispose();
  });

  it('leaks no tensors and rejects bad prompts', async () => {
    await generate(model, [1], { maxTokens: 2 });
    const before = tf.memory().numTensors;
    await generate(model, [1, 2], { maxTokens: 5, topK: 3, topP: 0.9, repetitionPenalty: 1.3 });
    expect(tf.memory().numTensors).toBe(before);
    await expect(generate(model, [], { maxTokens: 1 })).rejects.toThrow(/prompt/);
    await expect(generate(model, [99], { maxTokens: 1 })).rejects.toThrow(/id < 11/);
    await expectNoLeaks(async () => {
      await expect(generate(model, [1], { maxTokens: 1, topP: 2 })).rejects.toThrow(/topP/);
    });
  });
});
