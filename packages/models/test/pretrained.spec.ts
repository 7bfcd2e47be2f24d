import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, build, getPreset, saveModule, setSeed } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';
import {
  CharTokenizer,
  type DecoderLM,
  HfTokenizer,
  encodePretrained,
  fromPreset,
  fromPretrained,
  presetConfig,
} from '@attnkit/models';
import { saveRunFiles } from '../src/cli/run-files';
import { LLAMA_CONFIG, tinyByteLevelJSON } from './hf-vocabs';

const text = 'to be or not to be';
/** The value at a dotted path of a config. */
const at = (config: unknown, dotted: string): unknown =>
  dotted.split('.').reduce((o, k) => (o as Record<string, unknown>)[k], config);
// llama-tiny, shrunk: 1 layer of dModel 16.
const small = {
  dModel: 16,
  numLayers: 1,
  positional: { headDim: 4 },
  block: { feedForward: { hiddenDim: 32 } },
};

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-pretrained-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function logits(model: Module): tf.Tensor {
  return (model as DecoderLM).forward(tf.tensor2d([[1, 2, 3, 4]], undefined, 'int32'));
}

function expectSameModel(a: Module, b: Module): void {
  const [x, y] = [logits(a), logits(b)];
  expect(maxAbsDiff(x, y)).toBe(0);
  tf.dispose([x, y]);
}

describe('fromPreset', () => {
  it('builds the preset as build(getPreset(name)) does', () => {
    setSeed(1);
    const a = fromPreset('llama-tiny');
    setSeed(1);
    const b = build(getPreset('llama-tiny'));
    expect(a.config).toEqual(b.config);
    expect(a.numParams()).toBe(b.numParams());
    expectSameModel(a, b);
    a.dispose();
    b.dispose();
  });

  it('deep-merges overrides: nested fields change, their siblings stay', () => {
    const config = presetConfig('llama-tiny', {
      numLayers: 1,
      block: { mixer: { numKvHeads: 1 } },
    });
    const preset = getPreset('llama-tiny');
    expect(config.numLayers).toBe(1);
    expect(config.block).toEqual({
      ...(preset.block as object),
      mixer: { ...(at(preset, 'block.mixer') as object), numKvHeads: 1 },
    });
    const model = fromPreset('llama-tiny', small, { rng: new Rng(0) });
    expect((model.config as Record<string, unknown>).dModel).toBe(16);
    expect(at(model.config, 'block.feedForward')).toEqual({ type: 'swiglu', hiddenDim: 32 });
    model.dispose();
  });

  it('replaces a nested config whose type changes instead of merging into it', () => {
    const config = presetConfig('llama-tiny', { block: { mixer: { type: 'mha', numHeads: 2 } } });
    expect(at(config, 'block.mixer')).toEqual({ type: 'mha', numHeads: 2 });
    const model = fromPreset('llama-tiny', {
      ...small,
      block: { mixer: { type: 'mha', numHeads: 4 } },
    });
    expect(at(model.config, 'block.mixer.type')).toBe('mha');
    model.dispose();
  });

  it('refuses a misspelt override with a ConfigError naming its JSON path, allocating nothing', async () => {
    await expectNoLeaks(() => {
      expect(() => fromPreset('llama-tiny', { block: { mixer: { numHeds: 2 } } })).toThrow(
        expect.objectContaining({ argument: '$.block.mixer.numHeds' }),
      );
      expect(() => fromPreset('llama-tiny', { dModel: -1 })).toThrow(ConfigError);
    });
  });

  it('lists the known presets for an unknown name, refuses non-object and prototype overrides', () => {
    expect(() => fromPreset('llama-tiniest')).toThrow(/llama-tiny/);
    expect(() => fromPreset('llama-tiny', 3 as never)).toThrow(ConfigError);
    expect(() => fromPreset('llama-tiny', JSON.parse('{"__proto__": {"numLayers": 9}}'))).toThrow(
      /__proto__/,
    );
    // The registered preset is untouched by overrides.
    presetConfig('llama-tiny', { block: { mixer: { numKvHeads: 1 } } });
    expect(at(getPreset('llama-tiny'), 'block.mixer.numKvHeads')).toBe(2);
  });
});

describe('fromPretrained', () => {
  const tokenizer = CharTokenizer.train(text);
  const make = () =>
    fromPreset<DecoderLM>(
      'llama-tiny',
      { ...small, vocabSize: tokenizer.vocabSize },
      { rng: new Rng(3) },
    );

  it('loads a saveModule directory with its tokenizer.json, and one without', async () => {
    const model = make();
    const dir = path.join(root, 'dir');
    await saveModule(dir, model);
    const bare = await fromPretrained(dir);
    expect(bare.tokenizer).toBeUndefined();
    expectSameModel(model, bare.model);
    bare.model.dispose();
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer.toJSON()));
    const loaded = await fromPretrained(dir);
    expect(loaded.tokenizer!.toJSON()).toEqual(tokenizer.toJSON());
    expect(loaded.tokenizer!.decode(loaded.tokenizer!.encode(text))).toBe(text);
    expectSameModel(model, loaded.model);
    loaded.model.dispose();
    model.dispose();
  });

  it('loads a run directory as attnkit train writes it', async () => {
    const model = make();
    const dir = path.join(root, 'run');
    await saveRunFiles(dir, model, tokenizer, {
      seqLen: 4,
      batchSize: 1,
      lr: 1e-3,
      steps: 1,
      seed: 0,
    });
    const { model: loaded, tokenizer: tok } = await fromPretrained<DecoderLM>(dir);
    expect(tok!.encode('to be')).toEqual(tokenizer.encode('to be'));
    expectSameModel(model, loaded);
    loaded.dispose();
    model.dispose();
  });

  it('round-trips encodePretrained bytes and Blobs, the tokenizer in the metadata', async () => {
    const model = make();
    const bytes = await encodePretrained(model, tokenizer);
    for (const source of [
      bytes,
      new Blob([bytes as Uint8Array<ArrayBuffer>]),
      bytes.slice().buffer,
    ]) {
      const loaded = await fromPretrained(source);
      expect(loaded.tokenizer!.toJSON()).toEqual(tokenizer.toJSON());
      expectSameModel(model, loaded.model);
      loaded.model.dispose();
    }
    const bare = await fromPretrained(await encodePretrained(model));
    expect(bare.tokenizer).toBeUndefined();
    bare.model.dispose();
    model.dispose();
  });

  it("keeps a Hugging Face tokenizer's tokenizer_config.json (chat template, eos) in one file", async () => {
    const { json, config } = tinyByteLevelJSON();
    const hf = HfTokenizer.fromJSON(json, { ...config, chat_template: LLAMA_CONFIG.chat_template });
    const model = fromPreset<DecoderLM>(
      'llama-tiny',
      { ...small, vocabSize: hf.vocabSize },
      { rng: new Rng(4) },
    );
    const loaded = await fromPretrained(await encodePretrained(model, hf));
    const back = loaded.tokenizer as HfTokenizer;
    expect(back).toBeInstanceOf(HfTokenizer);
    expect(back.configJSON()).toEqual(hf.configJSON());
    expect(back.chatTemplate()).toBe(LLAMA_CONFIG.chat_template);
    const chat = [{ role: 'user', content: 'the weather' }];
    expect(back.applyChatTemplate(chat)).toBe(hf.applyChatTemplate(chat));
    expect(back.encode('the weather')).toEqual(hf.encode('the weather'));
    expectSameModel(model, loaded.model);
    loaded.model.dispose();
    model.dispose();
  });

  it('fetches a served directory (tokenizer.json optional) and a .safetensors URL', async () => {
    const model = make();
    const dir = path.join(root, 'served');
    await saveModule(dir, model);
    const single = await encodePretrained(model, tokenizer);
    let withTokenizer = true;
    const served = (url: string): Uint8Array | undefined => {
      const name = url.replace('https://models.test/', '');
      if (name === 'one.safetensors') return single;
      if (name === 'llama/tokenizer.json')
        return withTokenizer
          ? new TextEncoder().encode(JSON.stringify(tokenizer.toJSON()))
          : undefined;
      const file = path.join(dir, name.replace('llama/', ''));
      return fs.existsSync(file) ? new Uint8Array(fs.readFileSync(file)) : undefined;
    };
    const original = globalThis.fetch;
    globalThis.fetch = (async (url: string) => {
      const body = served(String(url));
      return body
        ? new Response(body as Uint8Array<ArrayBuffer>)
        : new Response('', { status: 404 });
    }) as typeof fetch;
    try {
      const a = await fromPretrained('https://models.test/llama');
      expect(a.tokenizer!.vocabSize).toBe(tokenizer.vocabSize);
      expectSameModel(model, a.model);
      a.model.dispose();
      withTokenizer = false;
      const b = await fromPretrained('https://models.test/llama/');
      expect(b.tokenizer).toBeUndefined();
      b.model.dispose();
      const c = await fromPretrained('https://models.test/one.safetensors');
      expect(c.tokenizer!.toJSON()).toEqual(tokenizer.toJSON());
      expectSameModel(model, c.model);
      c.model.dispose();
      await expect(fromPretrained('https://models.test/missing.safetensors')).rejects.toThrow(
        /404/,
      );
    } finally {
      globalThis.fetch = original;
    }
    model.dispose();
  });

  it("refuses a tokenizer whose vocabulary is not the model's, leaking nothing", async () => {
    const model = make();
    const dir = path.join(root, 'mismatch');
    await saveModule(dir, model);
    fs.writeFileSync(
      path.join(dir, 'tokenizer.json'),
      JSON.stringify(CharTokenizer.train('abc').toJSON()),
    );
    await expectNoLeaks(async () => {
      await expect(fromPretrained(dir)).rejects.toThrow(
        expect.objectContaining({
          expected: `a tokenizer of the model's vocabSize ${tokenizer.vocabSize}`,
        }),
      );
    });
    await expect(fromPretrained(path.join(root, 'nowhere'))).rejects.toThrow(ConfigError);
    model.dispose();
  });
});
