// decoder-lm's `landmark` option with @attnkit/memory's landmark-attention (Mohtashami & Jaggi
// 2023): the landmark stream, decoding across block boundaries, the errors, and the
// landmark-lm-tiny preset trained on passkey and run past its training length.
import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  Rng,
  ShapeError,
  build,
  estimateConfig,
  type ProbeEvent,
} from '@attnkit/core';
import { landmarkPresets } from '@attnkit/memory';
import {
  DecoderLM,
  PasskeyTask,
  TaskSource,
  Trainer,
  generate,
  type DecoderLmConfig,
} from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';
import { ids } from './helpers';

const tiny = (extra: Partial<DecoderLmConfig> = {}, mixer: object = {}): DecoderLmConfig => ({
  type: 'decoder-lm',
  vocabSize: 11,
  dModel: 8,
  numLayers: 2,
  maxLength: 16,
  positional: { type: 'rotary', headDim: 4 },
  landmark: { blockSize: 3 },
  block: {
    mixer: { type: 'landmark-attention', numHeads: 2, blockSize: 3, topK: 8, ...mixer },
    feedForward: { type: 'swiglu', hiddenDim: 16 },
  },
  ...extra,
});
const make = (extra: Partial<DecoderLmConfig> = {}, mixer: object = {}) =>
  build<DecoderLM>(tiny(extra, mixer), { rng: new Rng(5) });
const tokens = [[1, 4, 2, 7, 3, 9, 5, 6, 8, 2, 1]];

describeWithBlocks('decoder-lm with landmark tokens', () => {
  it('gives logits for its own tokens; a landmark is seen only by the tokens after its block', () => {
    const model = make();
    tf.tidy(() => {
      const before = model.forward(ids(tokens));
      expect(before.shape).toEqual([1, 11, 11]);
      model.landmark!.weight.assign(tf.mul(model.landmark!.weight, -3));
      const after = model.forward(ids(tokens));
      const moved = tf.max(tf.abs(tf.sub(after, before)), [0, 2]).arraySync() as number[];
      // Tokens 0-2 form block 0 and precede its landmark; token 3 onwards attends to it.
      expect(moved.slice(0, 3)).toEqual([0, 0, 0]);
      for (const m of moved.slice(3)) expect(m).toBeGreaterThan(0);
    });
    model.dispose();
  });

  it('decodes token by token, inserting landmarks across blocks, as the full forward (k = all blocks)', () => {
    const model = make();
    tf.tidy(() => {
      const full = model.forward(ids(tokens), { training: true }); // grouped softmax
      for (const step of [1, 2, 5]) {
        const state = model.initState(1);
        const parts: tf.Tensor[] = [];
        for (let i = 0; i < tokens[0]!.length; i += step) {
          parts.push(model.forward(ids([tokens[0]!.slice(i, i + step)]), { state }));
        }
        // 11 tokens with a landmark after every 3: 14 positions.
        expect(state.length).toBe(14);
        const diff = tf.max(tf.abs(tf.sub(tf.concat(parts, 1), full))).dataSync()[0]!;
        expect(diff).toBeLessThan(1e-4);
        state.dispose();
      }
    });
    model.dispose();
  });

  it('counts maxLength in its own tokens and refuses longer input, masks and mismatched blocks', () => {
    const model = make();
    tf.tidy(() => {
      expect(model.forward(ids([Array(16).fill(1)])).shape).toEqual([1, 16, 11]);
      expect(() => model.forward(ids([Array(17).fill(1)]))).toThrow(ShapeError);
      expect(() => model.forward(ids([Array(17).fill(1)]))).toThrow(
        /ids expected at most maxLength=16 tokens \(with their landmarks\), got 22/,
      );
      const mask = tf.ones([1, 1, 4, 4], 'bool');
      expect(() => model.forward(ids([[1, 2, 3, 4]]), { mask })).toThrow(/mask expected none/);
    });
    model.dispose();
    expect(() => make({}, { blockSize: 4 })).toThrow(ConfigError);
    expect(() => make({}, { blockSize: 4 })).toThrow(
      /\$\.block\.mixer\.blockSize expected blockSize=3 \(as \$\.landmark\.blockSize\), got 4/,
    );
    expect(() => make({ landmark: undefined })).toThrow(
      /\$\.block\.mixer\.blockSize expected a model with landmark tokens/,
    );
    expect(() => make({ landmark: { blockSize: 0 } })).toThrow(ConfigError);
  });

  it('estimates what it builds: the landmark embedding and positions for the landmarks', () => {
    for (const config of [tiny(), { ...tiny(), positional: { type: 'learned' } }]) {
      const model = build<DecoderLM>(config);
      expect(estimateConfig(config)!.parameters).toBe(model.numParams());
      model.dispose();
    }
  });
});

describeWithBlocks('landmark-lm-tiny on passkey', () => {
  const preset = landmarkPresets['landmark-lm-tiny'] as unknown as DecoderLmConfig;

  it('trains on passkey (2 steps here), then retrieves blocks at 4x its training length', async () => {
    const task = new PasskeyTask({ contextLength: 24, passkeyLength: 3 });
    const trained = build<DecoderLM>(
      { ...preset, vocabSize: task.vocabSize, maxLength: task.seqLen },
      { rng: new Rng(1) },
    );
    const trainer = new Trainer(trained, new TaskSource(task, 2, 2), { steps: 2, lr: 3e-3 });
    const losses = Array.from({ length: 2 }, () => trainer.trainStep().loss);
    for (const loss of losses) expect(Number.isFinite(loss)).toBe(true);

    // The same weights at 4x the context (rotary has no parameters tied to the length).
    const long = new PasskeyTask({ contextLength: 96, passkeyLength: 3 });
    const model = build<DecoderLM>({ ...preset, vocabSize: long.vocabSize, maxLength: 128 });
    model.loadStateDict(trained.stateDict());
    trained.dispose();
    model.eval();
    const { tokens } = long.sample(new Rng(3));
    const prompt = tokens.slice(0, tokens.length - 3); // up to and including QUERY
    expect(prompt.length).toBeGreaterThan(3 * task.seqLen);
    const seen: ProbeEvent[] = [];
    tf.tidy(() => {
      const logits = model.forward(ids([prompt]), { probe: (e) => seen.push(e) });
      expect(logits.shape).toEqual([1, prompt.length, long.vocabSize]);
    });
    // Each layer's last query read, per head, the block before its own and retrieved topK = 2
    // real blocks of the 12 before it.
    const { topK, localBlocks } = preset.block.mixer as unknown as Record<string, number>;
    const last = Math.floor((prompt.length - 1) / 8); // the last query's block
    expect(seen.map((e) => e.path)).toEqual(['layers_0.mixer', 'layers_1.mixer']);
    for (const e of seen) {
      const blocks = e.value as number[];
      expect(blocks).toHaveLength(4 * (localBlocks + topK));
      for (let h = 0; h < 4; h++) {
        const [local, ...retrieved] = blocks.slice(3 * h, 3 * h + 3);
        expect(local).toBe(last - 1);
        for (const b of retrieved) expect(b >= 0 && b < last - 1).toBe(true);
      }
    }
    const answer = await generate(model, prompt, { maxTokens: 3, temperature: 0 });
    expect(answer).toHaveLength(3);
    model.dispose();
  }, 60_000);
});
