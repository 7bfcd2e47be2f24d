import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  Rng,
  SafetensorsError,
  StateDictError,
  build,
  decodeSafetensors,
  encodeSafetensors,
  estimateConfig,
  readSafetensorsHeader,
} from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import {
  type Encoder,
  type EncoderConfig,
  type ImportedHuggingFace,
  type ViT,
  type VitConfig,
  toHuggingFace,
} from '@attnkit/models';
import { exportHuggingFace, importHuggingFace } from '@attnkit/models/node';
import golden from './fixtures/hf/hf_encoders.json';
import './blocks-ready';

// PyTorch reference: tools/reference/models/hf_encoders_reference.py (BERT and ViT written from
// the HF tensor names; it writes these checkpoints and their outputs).
const FIXTURES = path.join(__dirname, 'fixtures/hf');
type Outputs = Record<string, number[]>;
const outputs = golden.outputs as Record<string, Outputs>;
const BERT_CASES = ['bert-mlm', 'bert-cls', 'bert-model'];
const VIT_CASES = ['vit-cls', 'vit-model'];

const readConfig = (name: string) =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
const readWeights = (name: string) =>
  new Uint8Array(fs.readFileSync(path.join(FIXTURES, name, 'model.safetensors')));

const ids = () => tf.tensor2d([golden.ids], [1, golden.ids.length], 'int32');
const tokenTypes = () => tf.tensor2d([golden.tokenTypes], [1, golden.tokenTypes.length], 'int32');

/** The case's NCHW pixels as attnkit's NHWC image batch. */
function images(name: string, config: VitConfig): tf.Tensor4D {
  const { channels = 3, imageSize: s } = config;
  const pixels = (golden.pixels as Record<string, number[]>)[name]!;
  return tf.tidy(() => tf.transpose(tf.tensor4d(pixels, [1, channels, s, s]), [0, 2, 3, 1]));
}

/** Each output the reference wrote for `name`, computed by the imported model. */
function run(name: string, imported: ImportedHuggingFace): Record<string, Float32Array> {
  return tf.tidy(() => {
    const out: Record<string, tf.Tensor> = {};
    if (imported.modelType === 'bert') {
      const model = imported.model;
      const mask = name === 'bert-cls' ? tf.tensor2d([golden.mask], [1, 8], 'int32') : undefined;
      const options = { tokenTypes: tokenTypes(), mask };
      out.hidden = model.hidden(ids(), options);
      if (model.readout.pooler) out.pooled = model.embed(ids(), options);
      if (model.mlmHead) out.logits = model.maskedLmLogits(ids(), options);
      else if (model.readout.classifier) out.logits = model.forward(ids(), options);
    } else if (imported.modelType === 'vit') {
      const model = imported.model;
      const x = images(name, imported.config);
      out.hidden = model.hidden(x);
      if (model.readout.pooler) out.pooled = model.embed(x);
      if (model.readout.classifier) out.logits = model.forward(x);
    }
    return Object.fromEntries(
      Object.entries(out).map(([k, t]) => [k, t.dataSync() as Float32Array]),
    );
  });
}

describe('Hugging Face BERT and ViT: import', () => {
  it.each([...BERT_CASES, ...VIT_CASES])(
    '%s: every output equals the PyTorch reference (1e-4)',
    async (name) => {
      const imported = await importHuggingFace(path.join(FIXTURES, name));
      expect(imported.modelType).toBe(name.split('-')[0]);
      const got = run(name, imported);
      expect(Object.keys(got).sort()).toEqual(Object.keys(outputs[name]!).sort());
      for (const [k, want] of Object.entries(outputs[name]!)) {
        expectClose(got[k]!, want, { atol: 1e-4, rtol: 0 });
      }
      imported.model.dispose();
    },
  );

  it('maps BertForMaskedLM to an encoder with token types, an embedding norm and an MLM head', async () => {
    const { config, modelType } = await importHuggingFace({
      config: readConfig('bert-mlm'),
      weights: readWeights('bert-mlm'),
    }).then((r) => {
      r.model.dispose();
      return r;
    });
    expect(modelType).toBe('bert');
    expect(config).toMatchObject({
      type: 'encoder',
      typeVocabSize: 2,
      embeddingNorm: { type: 'layer-norm', eps: 1e-12 },
      mlmHead: { activation: 'gelu' },
      block: { placement: 'post', mixer: { type: 'mha', bias: true } },
    });
  });

  it('in memory ({ config, weights }) imports without leaks', async () => {
    for (const name of ['bert-cls', 'vit-cls']) {
      const hf = { config: readConfig(name), weights: readWeights(name) };
      await expectNoLeaks(async () => {
        const { model } = await importHuggingFace(hf);
        model.dispose();
      });
    }
  });

  it('token types, the padding mask and the class-token position matter', async () => {
    const bert = await importHuggingFace(path.join(FIXTURES, 'bert-cls'));
    const model = bert.model as Encoder;
    const mask = tf.tensor2d([golden.mask], [1, 8], 'int32');
    const want = outputs['bert-cls']!.logits!;
    const differs = (got: tf.Tensor) => {
      const v = got.dataSync();
      got.dispose();
      return Math.max(...want.map((w, i) => Math.abs(w - v[i]!)));
    };
    expect(differs(model.forward(ids(), { mask }))).toBeGreaterThan(1e-3);
    expect(differs(model.forward(ids(), { tokenTypes: tokenTypes() }))).toBeGreaterThan(1e-3);
    mask.dispose();
    model.dispose();
    // Positions added to the patches only (attnkit's default) is another function.
    const vit = await importHuggingFace(path.join(FIXTURES, 'vit-cls'));
    const config = { ...(vit.config as VitConfig), classTokenPosition: false };
    const other = build<ViT>(config);
    const state = vit.model.stateDict();
    const pos = state['positional.weight']!;
    other.loadStateDict({
      ...state,
      'positional.weight': tf.slice(pos, [1, 0], [pos.shape[0]! - 1, pos.shape[1]!]),
    });
    const x = images('vit-cls', config);
    const got = other.forward(x).dataSync();
    const ref = outputs['vit-cls']!.logits!;
    expect(Math.max(...ref.map((w, i) => Math.abs(w - got[i]!)))).toBeGreaterThan(1e-3);
    tf.dispose([x, ...Object.values(state)]);
    other.dispose();
    vit.model.dispose();
  });

  it("skips the tied MLM decoder copy and BERT's id buffers when a checkpoint carries them", async () => {
    const decoded = decodeSafetensors(readWeights('bert-mlm')).tensors;
    const extra = {
      ...decoded,
      'cls.predictions.decoder.weight': decoded['bert.embeddings.word_embeddings.weight']!,
      'bert.embeddings.position_ids': tf.reshape(tf.range(0, 12, 1, 'int32'), [1, 12]),
    };
    const weights = await encodeSafetensors(extra);
    tf.dispose(Object.values(extra));
    const imported = await importHuggingFace({ config: readConfig('bert-mlm'), weights });
    expectClose(run('bert-mlm', imported).logits!, outputs['bert-mlm']!.logits!, {
      atol: 1e-4,
      rtol: 0,
    });
    imported.model.dispose();
  });
});

describe('Hugging Face BERT: a file shaped as bert-base-uncased', () => {
  // BertForPreTraining's tensors under a BertForMaskedLM config: a pooler, the next-sentence
  // head, and TF BERT's LayerNorm gamma / beta names.
  const legacy = async (extra: Record<string, tf.Tensor> = {}) => {
    const decoded = decodeSafetensors(readWeights('bert-mlm')).tensors;
    const renamed = Object.fromEntries(
      Object.entries(decoded).map(([k, t]) => [
        k
          .replace(/LayerNorm\.weight$/, 'LayerNorm.gamma')
          .replace(/LayerNorm\.bias$/, 'LayerNorm.beta'),
        t,
      ]),
    );
    const all = {
      ...renamed,
      'bert.pooler.dense.weight': tf.fill([16, 16], 0.01),
      'bert.pooler.dense.bias': tf.zeros([16]),
      'cls.seq_relationship.weight': tf.ones([2, 16]),
      'cls.seq_relationship.bias': tf.zeros([2]),
      ...extra,
    };
    const weights = await encodeSafetensors(all);
    tf.dispose(Object.values(all));
    return weights;
  };

  it('imports with its pooler, skips the next-sentence head, reads gamma / beta', async () => {
    const imported = await importHuggingFace({
      config: readConfig('bert-mlm'),
      weights: await legacy(),
    });
    expect(imported.config).toMatchObject({ poolerActivation: 'tanh', mlmHead: {} });
    const got = run('bert-mlm', imported);
    expectClose(got.logits!, outputs['bert-mlm']!.logits!, { atol: 1e-4, rtol: 0 });
    expect(got.pooled).toHaveLength(16);
    const exported = await toHuggingFace(imported.model);
    const names = Object.keys(readSafetensorsHeader(exported.weights).tensors);
    expect(names).toContain('bert.pooler.dense.weight');
    expect(names).toContain('bert.embeddings.LayerNorm.weight');
    expect(names.filter((n) => /gamma|beta|seq_relationship/.test(n))).toEqual([]);
    imported.model.dispose();
  });

  it('refuses a parameter saved under both names', async () => {
    const weights = await legacy({ 'bert.embeddings.LayerNorm.weight': tf.ones([16]) });
    const error = await importHuggingFace({ config: readConfig('bert-mlm'), weights }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StateDictError);
    expect((error as Error).message).toMatch(
      /LayerNorm\.(gamma|weight)' expected one tensor per parameter/,
    );
  });
});

describe('Hugging Face BERT and ViT: export', () => {
  it.each([...BERT_CASES, ...VIT_CASES])(
    '%s: import -> export gives the same tensors and an equivalent config',
    async (name) => {
      const original = readConfig(name);
      const weights = readWeights(name);
      const { model, config } = await importHuggingFace({ config: original, weights });
      const exported = await toHuggingFace(model);
      for (const [k, v] of Object.entries(exported.config)) {
        if (original[k] != null && k !== 'torch_dtype') expect([k, v]).toEqual([k, original[k]]);
      }
      const again = await importHuggingFace(exported);
      expect(again.config).toEqual(config);
      again.model.dispose();
      const want = decodeSafetensors(weights).tensors;
      const got = decodeSafetensors(exported.weights).tensors;
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      for (const [k, t] of Object.entries(want)) {
        expect([k, got[k]!.shape]).toEqual([k, t.shape]);
        expect(tf.tidy(() => tf.max(tf.abs(tf.sub(got[k]!, t))).dataSync()[0])).toBe(0);
      }
      tf.dispose([...Object.values(want), ...Object.values(got)]);
      model.dispose();
    },
  );

  it('writes a directory that imports back with the reference outputs', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-hf-enc-'));
    try {
      for (const name of ['bert-mlm', 'vit-cls']) {
        const { model } = await importHuggingFace(path.join(FIXTURES, name));
        await exportHuggingFace(model, path.join(dir, name));
        model.dispose();
        const back = await importHuggingFace(path.join(dir, name));
        const got = run(name, back);
        expectClose(got.logits!, outputs[name]!.logits!, { atol: 1e-4, rtol: 0 });
        back.model.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exports attnkit-built models (BertModel, ViTForImageClassification) without leaks', async () => {
    const bert = build<Encoder>(
      {
        type: 'encoder',
        vocabSize: 20,
        dModel: 8,
        numLayers: 1,
        maxLength: 6,
        positional: { type: 'learned' },
        block: {
          mixer: { type: 'mha', numHeads: 2, bias: true },
          feedForward: { type: 'mlp', hiddenDim: 16 },
          norm: { type: 'layer-norm' },
          placement: 'post',
        },
        typeVocabSize: 2,
        embeddingNorm: { type: 'layer-norm' },
      },
      { rng: new Rng(3) },
    );
    await expectNoLeaks(() => toHuggingFace(bert));
    const out = await toHuggingFace(bert);
    expect(out.config).toMatchObject({ architectures: ['BertModel'], layer_norm_eps: 1e-5 });
    const back = (await importHuggingFace(out)).model as Encoder;
    const x = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32');
    expectClose(
      back.hidden(x).dataSync() as Float32Array,
      bert.hidden(x).dataSync() as Float32Array,
      { atol: 1e-6, rtol: 0 },
    );
    tf.dispose(x);
    back.dispose();
    bert.dispose();
    const vit = build<ViT>(
      {
        type: 'vit',
        imageSize: 4,
        patchSize: 2,
        channels: 1,
        dModel: 8,
        numLayers: 1,
        positional: { type: 'learned' },
        classTokenPosition: true,
        numClasses: 3,
        block: {
          mixer: { type: 'mha', numHeads: 2, bias: true },
          feedForward: { type: 'mlp', hiddenDim: 16 },
          norm: { type: 'layer-norm' },
        },
      },
      { rng: new Rng(4) },
    );
    await expectNoLeaks(() => toHuggingFace(vit));
    const v = await toHuggingFace(vit);
    expect(v.config).toMatchObject({ architectures: ['ViTForImageClassification'] });
    const vback = (await importHuggingFace(v)).model as ViT;
    const img = tf.tensor4d(
      Array.from({ length: 16 }, (_, i) => Math.sin(i)),
      [1, 4, 4, 1],
    );
    expectClose(
      vback.forward(img).dataSync() as Float32Array,
      vit.forward(img).dataSync() as Float32Array,
      {
        atol: 1e-6,
        rtol: 0,
      },
    );
    tf.dispose(img);
    vback.dispose();
    vit.dispose();
  });

  it('export refuses what BERT or ViT cannot hold, by its attnkit path', async () => {
    const base: EncoderConfig = {
      type: 'encoder',
      vocabSize: 12,
      dModel: 8,
      numLayers: 1,
      maxLength: 6,
      positional: { type: 'learned' },
      block: {
        mixer: { type: 'mha', numHeads: 2, bias: true },
        feedForward: { type: 'mlp', hiddenDim: 16 },
        norm: { type: 'layer-norm' },
        placement: 'post',
      },
      typeVocabSize: 2,
      embeddingNorm: { type: 'layer-norm' },
    };
    const cases: [Partial<EncoderConfig>, RegExp][] = [
      [{ block: { ...base.block, placement: 'pre' } }, /\$\.block\.placement/],
      [{ typeVocabSize: undefined }, /\$\.typeVocabSize/],
      [{ embeddingNorm: { type: 'rms-norm' } }, /\$\.embeddingNorm\.type/],
      [{ embeddingNorm: { type: 'layer-norm', eps: 1e-6 } }, /\$\.embeddingNorm\.eps/],
      [{ numClasses: 2 }, /\$\.poolerActivation.*tanh/],
      [{ pooling: 'mean' }, /\$\.pooling/],
      [{ positional: { type: 'sinusoidal' } }, /\$\.positional\.type/],
    ];
    for (const [patch, pattern] of cases) {
      const model = build<Encoder>({ ...base, ...patch });
      await expect(toHuggingFace(model)).rejects.toThrow(pattern);
      model.dispose();
    }
    const ok = build<Encoder>(base);
    await expect(toHuggingFace(ok, { modelType: 'llama' })).rejects.toThrow(
      /options\.modelType.*'bert'/,
    );
    ok.dispose();
    const vit = build<ViT>({
      type: 'vit',
      imageSize: 4,
      patchSize: 2,
      dModel: 8,
      numLayers: 1,
      positional: { type: 'learned' },
      block: {
        mixer: { type: 'mha', numHeads: 2, bias: true },
        feedForward: { type: 'mlp', hiddenDim: 16 },
        norm: { type: 'layer-norm' },
      },
    });
    await expect(toHuggingFace(vit)).rejects.toThrow(/\$\.classTokenPosition/);
    vit.dispose();
  });
});

describe('Hugging Face BERT and ViT: refusals', () => {
  const refuse = async (
    name: string,
    patch: Record<string, unknown>,
    Kind: typeof ConfigError,
    pattern: RegExp,
    weights = readWeights(name),
  ) => {
    const before = tf.memory().numTensors;
    const config = { ...readConfig(name), ...patch };
    const error = await importHuggingFace({ config, weights }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Kind);
    expect((error as Error).message).toMatch(pattern);
    expect(tf.memory().numTensors).toBe(before);
  };

  it.each([
    [
      'an unknown field',
      'bert-mlm',
      { some_new_switch: 1 },
      /config\.json field 'some_new_switch'/,
    ],
    [
      'relative positions',
      'bert-mlm',
      { position_embedding_type: 'relative_key' },
      /field 'position_embedding_type'.*relative_key/,
    ],
    ['a decoder', 'bert-model', { is_decoder: true }, /field 'is_decoder'/],
    ['cross-attention', 'bert-model', { add_cross_attention: true }, /field 'add_cross_attention'/],
    ['an untied MLM decoder', 'bert-mlm', { tie_word_embeddings: false }, /'tie_word_embeddings'/],
    ['an activation', 'bert-mlm', { hidden_act: 'mish' }, /field 'hidden_act'.*mish/],
    [
      'an architecture',
      'bert-mlm',
      { architectures: ['BertForPreTraining'] },
      /field 'architectures'.*BertForMaskedLM/,
    ],
    ['labels that disagree', 'bert-cls', { num_labels: 4 }, /field 'num_labels'.*3 labels/],
    ['a pooler activation', 'vit-model', { pooler_act: 'relu' }, /field 'pooler_act'/],
    ['an unknown ViT field', 'vit-cls', { use_mask_token: true }, /field 'use_mask_token'/],
    ['a patch not dividing', 'vit-cls', { patch_size: 3 }, /field 'patch_size'.*divisor/],
  ])('refuses %s by name, before allocating', async (_, name, patch, pattern) => {
    await refuse(name, patch, ConfigError, pattern);
  });

  it('compares tensor names and shapes with the config before allocating', async () => {
    await refuse(
      'bert-mlm',
      { intermediate_size: 48 },
      StateDictError,
      /tensor 'bert\.encoder\.layer\.0\.intermediate\.dense\.(weight|bias)' expected shape \[48(,16)?\].*got \[32(,16)?\]/,
    );
    await refuse(
      'vit-cls',
      { image_size: 12 },
      StateDictError,
      /tensor 'vit\.embeddings\.position_embeddings' expected shape \[1,10,16\].*got \[1,5,16\]/,
    );
    await refuse(
      'bert-model',
      { architectures: ['BertForMaskedLM'] },
      StateDictError,
      /tensor '[\w.]+' expected only the tensors/,
    );
  });

  it('a header that lies about a shape is a typed error, nothing allocated', async () => {
    const raw = readWeights('bert-model');
    const n = Number(new DataView(raw.buffer, raw.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(raw.subarray(8, 8 + n)));
    const rewrite = (shape: number[]) => {
      const h = structuredClone(header);
      h['embeddings.word_embeddings.weight'].shape = shape;
      let text = JSON.stringify(h);
      text += ' '.repeat((8 - (text.length % 8)) % 8);
      const bytes = new TextEncoder().encode(text);
      const out = new Uint8Array(8 + bytes.length + raw.length - 8 - n);
      new DataView(out.buffer).setBigUint64(0, BigInt(bytes.length), true);
      out.set(bytes, 8);
      out.set(raw.subarray(8 + n), 8 + bytes.length);
      return out;
    };
    // Data offsets that do not fit the claimed shape: refused by the header check.
    await refuse(
      'bert-model',
      {},
      SafetensorsError,
      /model\.safetensors/,
      rewrite([30_000_000, 16]),
    );
    // A consistent header whose shape disagrees with config.json: refused by the plan.
    const config = { ...readConfig('bert-model'), vocab_size: 3_000_000 };
    const before = tf.memory().numTensors;
    const error = await importHuggingFace({ config, weights: raw }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateDictError);
    expect((error as Error).message).toMatch(
      /word_embeddings\.weight' expected shape \[3000000,16\]/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('holds the resource limits before building', async () => {
    await expect(
      importHuggingFace(
        { config: readConfig('vit-cls'), weights: readWeights('vit-cls') },
        { maxParameters: 100 },
      ),
    ).rejects.toThrow(ConfigError);
  });
});

describe('encoder and vit options for BERT and ViT', () => {
  const encoder = (extra: Partial<EncoderConfig>): EncoderConfig => ({
    type: 'encoder',
    vocabSize: 12,
    dModel: 8,
    numLayers: 1,
    maxLength: 6,
    positional: { type: 'learned' },
    block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 16 } },
    ...extra,
  });

  it('estimates what the new options allocate', () => {
    const configs = [
      encoder({
        typeVocabSize: 3,
        embeddingNorm: { type: 'layer-norm' },
        mlmHead: {},
        poolerActivation: 'tanh',
        numClasses: 2,
      }),
      {
        type: 'vit',
        imageSize: 4,
        patchSize: 2,
        dModel: 8,
        numLayers: 1,
        positional: { type: 'learned' },
        classTokenPosition: true,
        poolerActivation: 'tanh',
        block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 16 } },
      },
    ];
    for (const config of configs) {
      const model = build<Encoder | ViT>(config);
      expect(estimateConfig(config)!.parameters).toBe(model.numParams());
      model.dispose();
    }
    const plain = build<Encoder>(encoder({}));
    const full = build<Encoder>(
      encoder({ typeVocabSize: 3, embeddingNorm: { type: 'layer-norm' } }),
    );
    expect(full.numParams() - plain.numParams()).toBe(3 * 8 + 2 * 8);
    plain.dispose();
    full.dispose();
  });

  it('masked-LM logits are tied to the embedding, leak-free, and refused without a head', async () => {
    const model = build<Encoder>(encoder({ mlmHead: {}, typeVocabSize: 2 }), { rng: new Rng(5) });
    const x = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
    await expectNoLeaks(() => tf.dispose(model.maskedLmLogits(x)));
    const logits = model.maskedLmLogits(x);
    expect(logits.shape).toEqual([1, 3, 12]);
    logits.dispose();
    const names = [...model.namedParameters().keys()].filter((k) => k.startsWith('mlm.'));
    expect(names.sort()).toEqual([
      'mlm.bias',
      'mlm.dense.bias',
      'mlm.dense.weight',
      'mlm.norm.bias',
      'mlm.norm.weight',
    ]);
    const bad = tf.tensor2d([[0, 0]], [1, 2], 'int32');
    expect(() => model.hidden(x, { tokenTypes: bad })).toThrow(/options\.tokenTypes/);
    const plain = build<Encoder>(encoder({}));
    expect(() => plain.maskedLmLogits(x)).toThrow(/\$\.mlmHead/);
    expect(() => plain.hidden(x, { tokenTypes: x })).toThrow(/options\.tokenTypes.*typeVocabSize/);
    tf.dispose([x, bad]);
    plain.dispose();
    model.dispose();
  });

  it('the new parameters train: the MLM loss reaches token types, embedding norm and head', () => {
    const model = build<Encoder>(
      encoder({ mlmHead: {}, typeVocabSize: 2, embeddingNorm: { type: 'layer-norm' } }),
      { rng: new Rng(6) },
    );
    const x = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
    const types = tf.tensor2d([[0, 1, 1]], [1, 3], 'int32');
    const target = tf.oneHot(tf.tensor1d([4, 5, 6], 'int32'), 12);
    const { value, grads } = tf.variableGrads(() =>
      tf.losses.softmaxCrossEntropy(
        target,
        tf.reshape(model.maskedLmLogits(x, { tokenTypes: types }), [3, 12]),
      ),
    );
    const named = model.namedParameters();
    for (const name of ['tokenTypes.weight', 'embedNorm.weight', 'mlm.dense.weight', 'mlm.bias']) {
      const g = grads[named.get(name)!.name]!;
      expect([name, tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]! > 0)]).toEqual([name, true]);
    }
    tf.dispose([value, x, types, target, ...Object.values(grads)]);
    model.dispose();
  });

  it("classTokenPosition needs pooling 'cls'", () => {
    expect(() =>
      build({
        type: 'vit',
        imageSize: 4,
        patchSize: 2,
        dModel: 8,
        numLayers: 1,
        pooling: 'mean',
        classTokenPosition: true,
        positional: { type: 'learned' },
        block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 16 } },
      }),
    ).toThrow(/\$\.classTokenPosition/);
  });
});
