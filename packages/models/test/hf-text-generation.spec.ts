// Text in, text out: generate/generateStream with a string prompt (a tokenizer passed or attached
// to the model), and model directories that carry a Hugging Face tokenizer (a saved module, a
// run, a Hugging Face checkpoint) read by `attnkit generate`. Tiny models, Llama's vocabulary.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, Rng, build, saveModule } from '@attnkit/core';
import {
  CharTokenizer,
  type DecoderLM,
  HfTokenizer,
  attachTokenizer,
  generate,
  generateStream,
  tokenizerOf,
} from '@attnkit/models';
import { exportHuggingFace, loadTokenizer, saveTokenizer } from '@attnkit/models/node';
import { generateCommand } from '@attnkit/models/cli';
import { loadRun, saveRunFiles } from '../src/cli/run-files';
import { capture } from './capture-io';
import { tinyByteLevelJSON } from './hf-vocabs';

/** A Llama-shaped decoder-lm (exports to the HF llama layout) over `vocabSize` tokens. */
function tinyLM(vocabSize: number): DecoderLM {
  return build<DecoderLM>(
    {
      type: 'decoder-lm',
      vocabSize,
      dModel: 8,
      numLayers: 1,
      maxLength: 32,
      tieEmbeddings: true,
      positional: { type: 'rotary', headDim: 4 },
      block: {
        mixer: { type: 'gqa', numHeads: 2, numKvHeads: 1 },
        feedForward: { type: 'swiglu', hiddenDim: 16 },
        norm: { type: 'rms-norm' },
      },
    },
    { rng: new Rng(3) },
  );
}

let bytes: HfTokenizer;
let model: DecoderLM;
let dir: string;
let V: number;
beforeAll(() => {
  const { json, config } = tinyByteLevelJSON();
  bytes = HfTokenizer.fromJSON(json, config);
  V = bytes.vocabSize;
  model = tinyLM(V);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-hf-text-'));
});
afterAll(() => {
  model.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

const options = { maxTokens: 12, temperature: 0.9, seed: 5, stopAtEos: false };

describe('generate with text', () => {
  it('gives the text of the ids it generates, in complete pieces', async () => {
    const prompt = bytes.encode('Hello world');
    const ids = await generate(model, prompt, options);
    const text = await generate(model, 'Hello world', { ...options, tokenizer: bytes });
    expect(text).toBe(bytes.decode([...prompt, ...ids]).slice(bytes.decode(prompt).length));
    const pieces: string[] = [];
    for await (const p of generateStream(model, 'Hello world', { ...options, tokenizer: bytes }))
      pieces.push(p);
    expect(pieces.join('')).toBe(text);
    expect(pieces.every((p) => p.length > 0)).toBe(true);
    // Only the last piece may end inside a character (the model stopped there).
    expect(pieces.slice(0, -1).some((p) => p.endsWith('\ufffd'))).toBe(false);
  });

  it('uses the tokenizer attached to the model', async () => {
    const own = tinyLM(V);
    expect(tokenizerOf(own)).toBeUndefined();
    attachTokenizer(own, bytes);
    expect(await generate(own, 'Hi', options)).toBe(
      await generate(own, 'Hi', { ...options, tokenizer: bytes }),
    );
    own.dispose();
  });

  it('refuses a text prompt without a tokenizer, or one larger than the model', async () => {
    await expect(generate(model, 'Hi', options)).rejects.toThrow(ConfigError);
    await expect(generate(model, 'Hi', options)).rejects.toThrow(/options.tokenizer/);
    const small = tinyLM(100);
    expect(V).toBeGreaterThan(100);
    await expect(generate(small, 'Hi', { ...options, tokenizer: bytes })).rejects.toThrow(
      /at most the model's vocabSize=100/,
    );
    small.dispose();
  });

  it('stops at the eos token by default', async () => {
    // A tokenizer whose eos_token is the token the model picks first (greedy).
    const [first] = await generate(model, bytes.encode('x'), { maxTokens: 1, temperature: 0 });
    const { json, config } = tinyByteLevelJSON();
    const tok = HfTokenizer.fromJSON(json, { ...config, eos_token: bytes.idToToken(first!) });
    expect(tok.specialToken('eos_token')?.id).toBe(first);
    const greedy = { temperature: 0, tokenizer: tok };
    const stopped = await generate(model, 'x', { ...greedy, maxTokens: 5 });
    expect(stopped).toBe(await generate(model, 'x', { ...greedy, maxTokens: 1, stopAtEos: false }));
    expect(stopped).not.toBe(
      await generate(model, 'x', { ...greedy, maxTokens: 5, stopAtEos: false }),
    );
  });

  it('works with attnkit tokenizers too', async () => {
    const chars = CharTokenizer.train('abcdefgh ');
    const small = tinyLM(chars.vocabSize);
    const text = await generate(small, 'abc', { ...options, tokenizer: chars });
    const ids = await generate(small, chars.encode('abc'), options);
    expect(text).toBe(chars.decode(ids));
    small.dispose();
  });
});

describe('model directories with a Hugging Face tokenizer', () => {
  it('saves and loads the tokenizer next to the model', async () => {
    const saved = path.join(dir, 'module');
    await saveModule(saved, model);
    saveTokenizer(saved, bytes);
    expect(fs.readdirSync(saved).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const back = (await loadTokenizer(saved))!;
    expect(back.kind).toBe('hf');
    expect(back.encode(' the other')).toEqual(bytes.encode(' the other'));
    expect(back.encode(' the')).toEqual([258]);
    expect(await loadTokenizer(dir)).toBeUndefined();
  });

  it('attnkit generate reads a saved module, a run and an HF checkpoint', async () => {
    const want = await generate(model, 'Hello', { maxTokens: 6, temperature: 0, tokenizer: bytes });
    const run = path.join(dir, 'run');
    await saveRunFiles(run, model, bytes, {
      seqLen: 8,
      batchSize: 1,
      lr: 1e-3,
      steps: 1,
      seed: 0,
    });
    const loaded = await loadRun(run);
    expect(loaded.tokenizer?.kind).toBe('hf');
    expect(tokenizerOf(loaded.model)).toBe(loaded.tokenizer);
    loaded.model.dispose();
    const hf = path.join(dir, 'hf');
    await exportHuggingFace(model, hf);
    saveTokenizer(hf, bytes);
    for (const where of [path.join(dir, 'module'), run, hf]) {
      const io = capture();
      let written = '';
      const text = await generateCommand(
        { run: where, prompt: 'Hello', maxTokens: 6, temperature: 0, json: true },
        io,
        (s) => (written += s),
      );
      expect(text).toBe(want);
      const done = JSON.parse(io.lines[io.lines.length - 1]!);
      expect(done).toEqual({ event: 'done', text: want });
      expect(written).toBe('');
    }
  });

  it('refuses a directory without a tokenizer', async () => {
    const bare = path.join(dir, 'bare');
    await saveModule(bare, model);
    await expect(generateCommand({ run: bare, json: true }, capture())).rejects.toThrow(
      /has no tokenizer.json/,
    );
  });
});
