import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  Rng,
  StateDictError,
  build,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensorsHeader,
} from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import {
  type DecoderLM,
  type HfExportable,
  type HfModelType,
  toHuggingFace,
} from '@attnkit/models';
import { exportHuggingFace, importHuggingFace } from '@attnkit/models/node';
import golden from './fixtures/hf/hf_logits.json';
import './blocks-ready';

// PyTorch reference: tools/reference/models/hf_reference.py (Llama/Mistral/Qwen2 and GPT-2 written
// from the HF tensor names; it writes these checkpoints and their logits).
const FIXTURES = path.join(__dirname, 'fixtures/hf');
const CASES: [string, HfModelType][] = [
  ['llama-tied', 'llama'],
  ['llama-untied', 'llama'],
  ['mistral', 'mistral'],
  ['qwen2', 'qwen2'],
  ['gpt2', 'gpt2'],
];
const ids = golden.ids;
const logitsOf = (name: string) => (golden.logits as Record<string, number[]>)[name]!;

const readConfig = (name: string) =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
const readWeights = (name: string) =>
  new Uint8Array(fs.readFileSync(path.join(FIXTURES, name, 'model.safetensors')));

/** Logits of a decoder-lm (what every case here imports to). */
function forward(model: HfExportable): Float32Array {
  return tf.tidy(() =>
    (model as DecoderLM).forward(tf.tensor2d([ids], [1, ids.length], 'int32')).dataSync(),
  ) as Float32Array;
}

describe('Hugging Face checkpoints: import', () => {
  it.each(CASES)('%s: logits equal the PyTorch reference', async (name, modelType) => {
    const { model, modelType: got, config } = await importHuggingFace(path.join(FIXTURES, name));
    expect(got).toBe(modelType);
    expectClose(forward(model), logitsOf(name), { atol: 1e-4, rtol: 0 });
    if (name === 'mistral') expect(config.block.mixer.type).toBe('sliding-window');
    model.dispose();
  });

  it('in memory ({ config, weights }) equals the directory import, without leaks', async () => {
    const hf = { config: readConfig('qwen2'), weights: readWeights('qwen2') };
    await expectNoLeaks(async () => {
      const { model } = await importHuggingFace(hf);
      model.dispose();
    });
    const { model } = await importHuggingFace(hf);
    expectClose(forward(model), logitsOf('qwen2'), { atol: 1e-4, rtol: 0 });
    model.dispose();
  });

  it('the sliding window and GQA matter (a plain model differs from the reference)', async () => {
    const config = { ...readConfig('mistral'), sliding_window: null };
    const { model } = await importHuggingFace({ config, weights: readWeights('mistral') });
    const out = forward(model);
    const ref = logitsOf('mistral');
    expect(Math.max(...ref.map((v, i) => Math.abs(v - out[i]!)))).toBeGreaterThan(1e-2);
    model.dispose();
  });
});

describe('Hugging Face checkpoints: export', () => {
  it.each(CASES)(
    '%s: import -> export gives the same tensors and an equivalent config',
    async (name, modelType) => {
      const original = readConfig(name);
      const weights = readWeights(name);
      const { model, config } = await importHuggingFace({ config: original, weights });
      const exported = await toHuggingFace(model, { modelType });
      // Every field both configs hold agrees, and the exported config imports to the same model.
      for (const [k, v] of Object.entries(exported.config)) {
        if (original[k] != null && k !== 'torch_dtype') expect([k, v]).toEqual([k, original[k]]);
      }
      const again = await importHuggingFace({ config: exported.config, weights: exported.weights });
      expect(again.config).toEqual(config);
      again.model.dispose();
      // Identical names, shapes and values (what the PyTorch loader reads).
      const want = decodeSafetensors(weights).tensors;
      const got = decodeSafetensors(exported.weights).tensors;
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      for (const [k, t] of Object.entries(want)) {
        expect([k, got[k]!.shape]).toEqual([k, t.shape]);
        expect(tf.tidy(() => tf.max(tf.abs(tf.sub(got[k]!, t))).dataSync()[0])).toBe(0);
      }
      expect(readSafetensorsHeader(exported.weights).metadata).toEqual({ format: 'pt' });
      tf.dispose([...Object.values(want), ...Object.values(got)]);
      model.dispose();
    },
  );

  it('writes config.json + model.safetensors to a directory that imports back', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-hf-'));
    try {
      const { model } = await importHuggingFace(path.join(FIXTURES, 'llama-untied'));
      await exportHuggingFace(model, dir);
      model.dispose();
      expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
      const back = await importHuggingFace(dir);
      expectClose(forward(back.model), logitsOf('llama-untied'), { atol: 1e-4, rtol: 0 });
      back.model.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exports an attnkit-built Llama model (default modelType llama) without leaks', async () => {
    const model = build<DecoderLM>(
      {
        type: 'decoder-lm',
        vocabSize: 50,
        dModel: 8,
        numLayers: 1,
        maxLength: 8,
        tieEmbeddings: false,
        positional: { type: 'rotary', headDim: 4, base: 500 },
        block: {
          mixer: { type: 'gqa', numHeads: 2, numKvHeads: 1 },
          feedForward: { type: 'swiglu', hiddenDim: 16 },
          norm: { type: 'rms-norm' },
        },
      },
      { rng: new Rng(1) },
    );
    await expectNoLeaks(() => toHuggingFace(model));
    const { config, weights } = await toHuggingFace(model);
    expect(config).toMatchObject({ model_type: 'llama', rope_theta: 500, num_key_value_heads: 1 });
    const back = await importHuggingFace({ config, weights });
    expectClose(forward(back.model), forward(model), { atol: 1e-6, rtol: 0 });
    back.model.dispose();
    model.dispose();
  });
  it("writes Llama's attention_bias (biases on q, k, v and o) and reads it back", async () => {
    const model = build<DecoderLM>(
      {
        type: 'decoder-lm',
        vocabSize: 50,
        dModel: 8,
        numLayers: 1,
        maxLength: 8,
        positional: { type: 'rotary', headDim: 4 },
        block: {
          mixer: { type: 'mha', numHeads: 2, bias: true },
          feedForward: { type: 'swiglu', hiddenDim: 16 },
        },
      },
      { rng: new Rng(2) },
    );
    model
      .namedParameters()
      .get('layers_0.mixer.o.bias')!
      .assign(tf.fill([8], 0.5));
    const { config, weights } = await toHuggingFace(model);
    expect(config).toMatchObject({ model_type: 'llama', attention_bias: true });
    expect(Object.keys(readSafetensorsHeader(weights).tensors)).toContain(
      'model.layers.0.self_attn.o_proj.bias',
    );
    const back = await importHuggingFace({ config, weights });
    expectClose(forward(back.model), forward(model), { atol: 1e-6, rtol: 0 });
    back.model.dispose();
    model.dispose();
  });
});

describe('Hugging Face checkpoints: refusals', () => {
  const llama = () => readConfig('llama-tied');
  const weights = readWeights('llama-tied');
  const refuse = async (
    config: Record<string, unknown>,
    Kind: typeof ConfigError,
    pattern: RegExp,
  ) => {
    const before = tf.memory().numTensors;
    const error = await importHuggingFace({ config, weights }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Kind);
    expect((error as Error).message).toMatch(pattern);
    expect(tf.memory().numTensors).toBe(before);
  };

  it.each([
    [
      'rope_scaling yarn',
      { rope_scaling: { rope_type: 'yarn', factor: 4 } },
      /config\.json field 'rope_scaling\.rope_type'.*yarn/,
    ],
    [
      'dynamic rope',
      { rope_scaling: { type: 'dynamic', factor: 2 } },
      /rope_scaling\.rope_type.*dynamic/,
    ],
    ['an unknown field', { some_new_switch: true }, /config\.json field 'some_new_switch'/],
    ['mlp_bias', { mlp_bias: true }, /field 'mlp_bias'/],
    ['hidden_act', { hidden_act: 'gelu' }, /field 'hidden_act'/],
    [
      'heads not dividing hidden_size',
      { num_attention_heads: 5 },
      /field 'num_attention_heads'.*divisor/,
    ],
    [
      'a model_type',
      { model_type: 't5' },
      /field 'model_type'.*llama, mistral, qwen2, gpt2, bert, vit/,
    ],
    ['heads not dividing', { num_key_value_heads: 3 }, /config\.json.*numKvHeads/],
  ])('refuses %s by name, before allocating', async (_, patch, pattern) => {
    await refuse({ ...llama(), ...patch }, ConfigError, pattern);
  });

  it("refuses Qwen2's per-layer sliding windows", async () => {
    const config = { ...readConfig('qwen2'), use_sliding_window: true };
    const error = await importHuggingFace({ config, weights: readWeights('qwen2') }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/field 'use_sliding_window'/);
  });

  it('holds the resource limits before building', async () => {
    await expect(
      importHuggingFace({ config: llama(), weights }, { maxParameters: 100 }),
    ).rejects.toThrow(ConfigError);
  });

  it('compares tensor names and shapes with the config before allocating', async () => {
    const wrongShape = { ...llama(), intermediate_size: 48 };
    await refuse(
      wrongShape,
      StateDictError,
      /model\.safetensors tensor 'model\.layers\.0\.mlp\.\w+_proj\.weight' expected shape .*48.*config\.json.*got .*32/,
    );
    const missing = { ...llama(), tie_word_embeddings: false };
    await refuse(missing, StateDictError, /tensor 'lm_head\.weight' expected present, got missing/);
    const fewer = { ...llama(), num_hidden_layers: 1 };
    await refuse(fewer, StateDictError, /tensor 'model\.layers\.1\..*' expected only the tensors/);
  });

  it('names the weights file on a corrupt header', async () => {
    const error = await importHuggingFace({ config: llama(), weights: weights.slice(0, 20) }).catch(
      (e) => e,
    );
    expect(error.message).toMatch(/model\.safetensors/);
  });

  it('export refuses what the HF architecture cannot hold, by its attnkit path', async () => {
    const base = {
      type: 'decoder-lm',
      vocabSize: 12,
      dModel: 8,
      numLayers: 1,
      maxLength: 8,
      positional: { type: 'rotary', headDim: 4 },
      block: {
        mixer: { type: 'gqa', numHeads: 2, numKvHeads: 1 },
        feedForward: { type: 'swiglu', hiddenDim: 16 },
        placement: 'pre',
      },
    };
    const qk = build<DecoderLM>({
      ...base,
      block: { ...base.block, mixer: { ...base.block.mixer, qkNorm: 'rms' } },
    });
    await expect(toHuggingFace(qk)).rejects.toThrow(/\$\.block\.mixer\.qkNorm/);
    qk.dispose();
    const biased = build<DecoderLM>({
      ...base,
      block: { ...base.block, mixer: { ...base.block.mixer, bias: true } },
    });
    biased
      .namedParameters()
      .get('layers_0.mixer.o.bias')!
      .assign(tf.ones([8]));
    await expect(toHuggingFace(biased, { modelType: 'qwen2' })).rejects.toThrow(/o\.bias.*zeros/);
    await expect(toHuggingFace(biased, { modelType: 'mistral' })).rejects.toThrow(
      /\$\.block\.mixer\.bias/,
    );
    biased.dispose();
    const moe = build<DecoderLM>({
      ...base,
      block: { ...base.block, feedForward: { type: 'mlp', hiddenDim: 16 } },
    });
    await expect(toHuggingFace(moe)).rejects.toThrow(/\$\.block\.feedForward\.type/);
    await expect(toHuggingFace(moe, { modelType: 'gpt2' })).rejects.toThrow(/\$\.positional\.type/);
    moe.dispose();
  });

  it('accepts F16 weights (converted to float32)', async () => {
    const decoded = decodeSafetensors(weights).tensors;
    const half = await encodeSafetensors(decoded, undefined, { dtype: 'F16' });
    tf.dispose(Object.values(decoded));
    const { model } = await importHuggingFace({ config: llama(), weights: half });
    expectClose(forward(model), logitsOf('llama-tied'), { atol: 5e-2, rtol: 0 });
    model.dispose();
  });
});

describe('packages/models/README.md "Hugging Face checkpoints"', () => {
  it('runs the example as written: export, import, equal logits', async () => {
    const { runDocExample } = require('../../../tools/jest/doc-examples.cjs');
    const readme = path.join(__dirname, '../README.md');
    const [line] = (await runDocExample(readme, 1, require)) as string[];
    const [modelType, diff] = line!.split(' ');
    expect(modelType).toBe('llama');
    expect(Number(diff)).toBeLessThanOrEqual(1e-6);
  });
});
