// `attnkit train --data <text> --tokenizer <tokenizer.json | dir>`: a decoder LM trained on text
// with a Hugging Face tokenizer; the run keeps the tokenizer, so generate takes and prints text.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { HfTokenizer } from '@attnkit/models';
import { evalCommand, generateCommand, makeProgram, trainCommand } from '@attnkit/models/cli';
import type { TrainOptions } from '@attnkit/models/cli';
import { loadTokenizer } from '@attnkit/models/node';
import { describeWithBlocks } from './blocks-ready';
import { capture } from './capture-io';
import { tinyByteLevelJSON } from './hf-vocabs';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-train-tok-'));
const bertFile = path.join(__dirname, 'fixtures/hf-tokenizers/bert-tiny-tokenizer.json');
const bertConfigFile = path.join(
  __dirname,
  'fixtures/hf-tokenizers/bert-tiny-tokenizer_config.json',
);

/** Words of the WordPiece fixture's vocabulary, so no [UNK] is needed. */
const VERSE = 'the cat sat on the mat. hello world! a cat played on a mat, unbelievable.\n';

/** A one-layer decoder LM; vocabSize and maxLength come from the tokenizer and --seq-len. */
function tinyConfig(dir: string): string {
  const file = path.join(dir, 'tiny.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      type: 'decoder-lm',
      dModel: 8,
      numLayers: 1,
      positional: { type: 'rotary', headDim: 4 },
      block: {
        mixer: { type: 'gqa', numHeads: 2, numKvHeads: 1 },
        feedForward: { type: 'swiglu', hiddenDim: 16 },
      },
    }),
  );
  return file;
}

function setup(): { out: string; data: string; config: string } {
  const out = tmp();
  const data = path.join(out, 'verse.txt');
  fs.writeFileSync(data, VERSE.repeat(12));
  return { out, data, config: tinyConfig(out) };
}

const run = (o: Partial<TrainOptions>): TrainOptions => ({
  steps: 3,
  batchSize: 2,
  seqLen: 12,
  backend: 'cpu',
  ...o,
});

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;

describeWithBlocks('attnkit train --tokenizer', () => {
  it('trains on text with a WordPiece tokenizer.json and generates text from the run', async () => {
    const { out, data, config } = setup();
    const tensors = tf.memory().numTensors;
    const io = capture();
    const result = await trainCommand(run({ config, data, out, tokenizer: bertFile }), io);
    expect(tf.memory().numTensors).toBe(tensors);
    // The run carries the tokenizer as read: a file not named tokenizer.json brings no config.
    expect(readJson(path.join(result.runDir, 'tokenizer.json'))).toEqual(readJson(bertFile));
    expect(fs.existsSync(path.join(result.runDir, 'tokenizer_config.json'))).toBe(false);
    const saved = readJson(path.join(result.runDir, 'config.json')) as { vocabSize: number };
    const tokenizer = await loadTokenizer(result.runDir);
    expect(tokenizer).toBeInstanceOf(HfTokenizer);
    expect(saved.vocabSize).toBe(tokenizer!.vocabSize);
    expect(readJson(path.join(result.runDir, 'run.json'))).toMatchObject({
      data,
      tokenizer: bertFile,
    });
    expect(io.lines.some((l) => l.includes(`(tokenizer hf from ${bertFile}, 24 tokens)`))).toBe(
      true,
    );
    expect(result.evalLoss).toBeGreaterThan(0);
    // Text in, text out: the prompt is encoded with the run's tokenizer, the reply decoded.
    const lines = capture();
    const text = await generateCommand(
      {
        run: result.runDir,
        prompt: 'the cat',
        maxTokens: 6,
        temperature: 0,
        json: true,
        backend: 'cpu',
      },
      lines,
    );
    const events = lines.lines.map((l) => JSON.parse(l) as { event: string; text: string });
    expect(events.filter((e) => e.event === 'token')).toHaveLength(6);
    expect(events.at(-1)).toEqual({ event: 'done', text });
    // The pieces are vocabulary text (WordPiece decodes to words and punctuation; special
    // tokens are left out), never ids.
    expect(text).toMatch(/^[a-z.,! ]*$/);
    const evaluation = await evalCommand(
      { run: result.runDir, batches: 1, backend: 'cpu' },
      capture(),
    );
    expect(evaluation.unit).toBe('nats/token');
    expect(Number.isFinite(evaluation.loss)).toBe(true);
  });

  it('takes a directory with a byte-level BPE tokenizer.json and its tokenizer_config.json', async () => {
    const { out, data, config } = setup();
    const dir = path.join(out, 'bpe');
    fs.mkdirSync(dir);
    const { json, config: tokenizerConfig } = tinyByteLevelJSON();
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
    const result = await trainCommand(run({ config, data, out, tokenizer: dir }), capture());
    expect(readJson(path.join(result.runDir, 'tokenizer.json'))).toEqual(json);
    expect(readJson(path.join(result.runDir, 'tokenizer_config.json'))).toEqual(tokenizerConfig);
    const tokenizer = (await loadTokenizer(result.runDir)) as HfTokenizer;
    expect(tokenizer.specialToken('eos_token')?.token).toBe('<|endoftext|>');
    // The data round-trips through the run's tokenizer (byte-level BPE is lossless).
    expect(tokenizer.decode(tokenizer.encode(VERSE))).toBe(VERSE);
    const text = await generateCommand(
      { run: result.runDir, prompt: 'the cat', maxTokens: 4, temperature: 0, backend: 'cpu' },
      capture(),
      () => undefined,
    );
    expect(typeof text).toBe('string');
    // Resuming keeps the run's tokenizer and its config.
    const resumed = await trainCommand(
      { out, name: path.basename(result.runDir), resume: true, steps: 4, backend: 'cpu' },
      capture(),
    );
    expect(resumed.steps).toBe(4);
    expect(readJson(path.join(result.runDir, 'tokenizer_config.json'))).toEqual(tokenizerConfig);
  });

  it('refuses --tokenizer without --data, with --resume, and a path that holds none', async () => {
    const { out, data, config } = setup();
    await expect(
      trainCommand(run({ config, out, tokenizer: bertFile }), capture()),
    ).rejects.toThrow(
      'train: --tokenizer tokenizes the text of --data; a task has its own token ids',
    );
    await expect(
      trainCommand(run({ out, name: 'x', resume: true, tokenizer: bertFile }), capture()),
    ).rejects.toThrow("train: --resume keeps the run's own tokenizer; leave out --tokenizer");
    const missing = path.join(out, 'nope.json');
    await expect(
      trainCommand(run({ config, data, out, tokenizer: missing }), capture()),
    ).rejects.toThrow(`train: --tokenizer ${missing} does not exist`);
    const empty = path.join(out, 'empty');
    fs.mkdirSync(empty);
    await expect(
      trainCommand(run({ config, data, out, tokenizer: empty }), capture()),
    ).rejects.toThrow(`train: --tokenizer ${empty} holds no tokenizer.json`);
    const bad = path.join(out, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ model: { type: 'Nope' } }));
    await expect(
      trainCommand(run({ config, data, out, tokenizer: bad }), capture()),
    ).rejects.toThrow(
      /^train: --tokenizer \S+bad\.json: HfTokenizer: tokenizer\.json "model\.type"/,
    );
    // Text the tokenizer cannot encode (no unknown token) is refused with the file named.
    const noUnk = path.join(out, 'tokenizer.json');
    const bert = readJson(bertFile) as { model: Record<string, unknown> };
    fs.writeFileSync(noUnk, JSON.stringify({ ...bert, model: { ...bert.model, unk_token: '' } }));
    fs.copyFileSync(bertConfigFile, path.join(out, 'tokenizer_config.json'));
    const odd = path.join(out, 'odd.txt');
    fs.writeFileSync(odd, 'zebra '.repeat(40));
    await expect(
      trainCommand(run({ config, data: odd, out, tokenizer: out }), capture()),
    ).rejects.toThrow(/^train: --data \S+odd\.txt: /);
    expect(fs.readdirSync(out).filter((f) => fs.statSync(path.join(out, f)).isDirectory())).toEqual(
      ['empty'],
    );
  });

  it('is an option of the train command', () => {
    const train = makeProgram().commands.find((c) => c.name() === 'train')!;
    const option = train.options.find((o) => o.long === '--tokenizer');
    expect(option?.description).toMatch(/Hugging Face tokenizer\.json/);
  });
});
