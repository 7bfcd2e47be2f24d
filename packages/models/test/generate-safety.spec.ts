// generate() leaves the model as it found it: the training flag comes back even when calls
// overlap, and a disposed model is refused with a typed error on every decoding path.
import { ConfigError } from '@attnkit/core';
import type { DecoderLM } from '@attnkit/models';
import { generate, generateStream } from '@attnkit/models';
import { tinyLm } from './helpers';
import { describeWithBlocks } from './blocks-ready';

describeWithBlocks('generate keeps the model as it found it', () => {
  it('restores the training flag after overlapping calls, whatever it was', async () => {
    for (const training of [true, false]) {
      const model = tinyLm({ maxLength: 16 }, 1);
      model.train(training);
      const a = generateStream(model, [1, 2], { maxTokens: 3, seed: 1 });
      const b = generateStream(model, [3], { maxTokens: 3, seed: 2 });
      await a.next();
      await b.next();
      expect(model.training).toBe(false); // eval while any generation runs
      for await (const _ of a) void _;
      expect(model.training).toBe(false); // b still runs
      for await (const _ of b) void _;
      expect(model.training).toBe(training);
      // a call that fails part-way restores it too
      await expect(generate(model, [1], { maxTokens: 2, topP: 2 })).rejects.toThrow(/topP/);
      expect(model.training).toBe(training);
      model.dispose();
    }
  });

  it('refuses a disposed model before and during generation, on the cached and full paths', async () => {
    const message = 'generate: model expected a live model, got a disposed model';
    const gone = tinyLm({ maxLength: 16 }, 2);
    gone.dispose();
    await expect(generate(gone, [1], { maxTokens: 2 })).rejects.toThrow(ConfigError);
    await expect(generate(gone, [1], { maxTokens: 2 })).rejects.toThrow(message);
    for (const useCache of [true, false]) {
      const model: DecoderLM = tinyLm({ maxLength: 16 }, 3);
      const stream = generateStream(model, [1, 2], { maxTokens: 5, useCache, fused: false });
      expect((await stream.next()).done).toBe(false);
      model.dispose();
      await expect(stream.next()).rejects.toThrow(message);
    }
  });

  it('refuses a prompt longer than maxLength instead of returning nothing', async () => {
    const model = tinyLm({ maxLength: 6 }, 4);
    const prompt = [1, 2, 3, 4, 5, 6, 7];
    for (const useCache of [true, false]) {
      await expect(generate(model, prompt, { maxTokens: 3, useCache })).rejects.toThrow(
        'generate: prompt expected at most maxLength=6 tokens, got 7 tokens',
      );
    }
    expect(await generate(model, prompt.slice(0, 6), { maxTokens: 3 })).toHaveLength(1);
    model.dispose();
  });
});
