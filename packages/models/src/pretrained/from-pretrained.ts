// A saved model and its tokenizer in one call, from any of core's module sources: a directory
// (saveModule's pair, or a run of `attnkit train`: config.json + model.safetensors +
// tokenizer.json), a URL serving such a directory or one self-contained .safetensors file, the
// bytes or Blob of one (`encodePretrained`: the tokenizer rides in its metadata),
// `indexeddb://name`, artifacts or a store. Browser-safe: Node's fs is imported only on the
// directory path, through a computed specifier, as core's directory store does.
import {
  ConfigError,
  type LoadModuleOptions,
  type Module,
  type ModuleSource,
  encodeModule,
  loadModule,
  readSafetensorsHeader,
} from '@attnkit/core';
import type { Tokenizer } from '../tokenizers';
import {
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  type TokenizerSource,
  readTokenizer,
  tokenizerFiles,
  urlTokenizerSource,
} from '../tokenizers/files';

/** The safetensors `__metadata__` key of a one-file save that holds its tokenizer's JSON. */
export const TOKENIZER_METADATA_KEY = 'attnkit_tokenizer';
/** The key that holds a Hugging Face tokenizer's tokenizer_config.json (chat template, special tokens). */
export const TOKENIZER_CONFIG_METADATA_KEY = 'attnkit_tokenizer_config';

/** Each tokenizer file of a one-file save, by its metadata key. */
const METADATA_KEYS: Record<string, string> = {
  [TOKENIZER_FILE]: TOKENIZER_METADATA_KEY,
  [TOKENIZER_CONFIG_FILE]: TOKENIZER_CONFIG_METADATA_KEY,
};

/** A loaded model with the tokenizer its save carried (none for image models or bare saves). */
export interface Pretrained<M extends Module = Module> {
  model: M;
  tokenizer: Tokenizer | undefined;
}

const URL_SCHEME = /^(https?|blob|data|file):/i;

const importNode = (specifier: string): Promise<unknown> =>
  import(/* webpackIgnore: true */ /* @vite-ignore */ specifier);

/** The tokenizer files of a directory on disk; a missing file is none. */
function directorySource(dir: string): TokenizerSource {
  return {
    describe: (file) => `${dir}/${file}`,
    async read(file) {
      const fs = (await importNode('node:fs/promises')) as typeof import('node:fs/promises');
      const path = (await importNode('node:path')) as typeof import('node:path');
      try {
        return await fs.readFile(path.join(dir, file), 'utf8');
      } catch (error) {
        if ((error as { code?: string }).code === 'ENOENT') return undefined;
        throw new ConfigError(
          'fromPretrained',
          file,
          'a readable file',
          `'${path.join(dir, file)}' (${String((error as Error).message)})`,
        );
      }
    },
  };
}

/** A one-file save's tokenizer files, from its metadata. */
function metadataSource(metadata: Record<string, string>, where: string): TokenizerSource {
  return {
    describe: (file) => `${where}.${METADATA_KEYS[file] ?? file}`,
    read: async (file) => (METADATA_KEYS[file] ? metadata[METADATA_KEYS[file]] : undefined),
  };
}

async function bytesOf(source: ModuleSource): Promise<Uint8Array | undefined> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    return new Uint8Array(await source.arrayBuffer());
  }
  return undefined;
}

/**
 * Where a source's tokenizer files are (`tokenizers`' readTokenizer reads them, with
 * tokenizer_config.json beside a Hugging Face tokenizer.json); `source` may be replaced by its
 * bytes.
 */
async function tokenizerSource(
  source: ModuleSource,
): Promise<{ source: ModuleSource; files: TokenizerSource; where: string }> {
  if (typeof source === 'string' && URL_SCHEME.test(source)) {
    if (/\.safetensors([?#].*)?$/i.test(source)) {
      const response = await fetch(source);
      if (!response.ok) {
        throw new ConfigError(
          'fromPretrained',
          'url',
          'a URL that fetches (HTTP 2xx)',
          `'${source}' (HTTP ${response.status})`,
        );
      }
      return tokenizerSource(new Uint8Array(await response.arrayBuffer()));
    }
    return { source, files: urlTokenizerSource(source), where: `'${source}' ${TOKENIZER_FILE}` };
  }
  if (typeof source === 'string' && !source.startsWith('indexeddb://')) {
    return { source, files: directorySource(source), where: `'${source}/${TOKENIZER_FILE}'` };
  }
  const bytes = await bytesOf(source);
  if (bytes) {
    // Header only; loadModule validates the whole file.
    let metadata: Record<string, string> = {};
    try {
      metadata = readSafetensorsHeader(bytes).metadata;
    } catch {
      metadata = {};
    }
    const where = 'bytes __metadata__';
    return {
      source: bytes,
      files: metadataSource(metadata, where),
      where: `${where}.${TOKENIZER_METADATA_KEY}`,
    };
  }
  return { source, files: metadataSource({}, 'source'), where: 'source' };
}

/**
 * Loads a saved model with its tokenizer: `const { model, tokenizer } = await
 * fromPretrained('runs/shakespeare')`. Every source `loadModule` takes works (directory, URL,
 * bytes, Blob, `indexeddb://name`, artifacts, store); the tokenizer comes from tokenizer.json
 * (with tokenizer_config.json beside a Hugging Face one) in a directory, served or on disk, or
 * from the metadata of a one-file save, and is undefined when the save has none. A tokenizer whose vocabulary differs from the model's `vocabSize` is refused.
 */
export async function fromPretrained<M extends Module = Module>(
  from: ModuleSource,
  options: LoadModuleOptions = {},
): Promise<Pretrained<M>> {
  const { source, files, where } = await tokenizerSource(from);
  const tokenizer = await readTokenizer(files);
  const model = await loadModule<M>(source, options);
  const vocab = (model.config as { vocabSize?: unknown }).vocabSize;
  if (tokenizer && typeof vocab === 'number' && tokenizer.vocabSize !== vocab) {
    model.dispose();
    throw new ConfigError(
      'fromPretrained',
      where,
      `a tokenizer of the model's vocabSize ${vocab}`,
      `${tokenizer.vocabSize} tokens`,
    );
  }
  return { model, tokenizer };
}

/**
 * One self-contained safetensors file holding the model, its config and (when given) its
 * tokenizer with every file a directory would hold (a Hugging Face tokenizer's
 * tokenizer_config.json too): `fromPretrained(bytes)` rebuilds both. For downloads, uploads and
 * `File`s.
 */
export async function encodePretrained(
  model: Module,
  tokenizer?: Tokenizer,
  options: Parameters<typeof encodeModule>[1] = {},
): Promise<Uint8Array> {
  const metadata = { ...options.metadata };
  if (tokenizer) {
    for (const [file, text] of Object.entries(tokenizerFiles(tokenizer))) {
      metadata[METADATA_KEYS[file]] = text;
    }
  }
  return encodeModule(model, { ...options, metadata });
}
