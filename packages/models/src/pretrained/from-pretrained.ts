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
  parseJson,
  readSafetensorsHeader,
} from '@attnkit/core';
import { type Tokenizer, tokenizerFromJSON } from '../tokenizers';
import { TOKENIZER_FILE } from '../tokenizers/files';

/** The safetensors `__metadata__` key of a one-file save that holds its tokenizer's JSON. */
export const TOKENIZER_METADATA_KEY = 'attnkit_tokenizer';
/** Longest tokenizer.json read (a 50k-token BPE is a few MB). */
const MAX_TOKENIZER_CHARS = 2 ** 27;

/** A loaded model with the tokenizer its save carried (none for image models or bare saves). */
export interface Pretrained<M extends Module = Module> {
  model: M;
  tokenizer: Tokenizer | undefined;
}

const URL_SCHEME = /^(https?|blob|data|file):/i;

const importNode = (specifier: string): Promise<unknown> =>
  import(/* webpackIgnore: true */ /* @vite-ignore */ specifier);

/** tokenizer.json in `dir`, or undefined when there is none. */
async function readDirectoryTokenizer(dir: string): Promise<string | undefined> {
  const fs = (await importNode('node:fs/promises')) as typeof import('node:fs/promises');
  const path = (await importNode('node:path')) as typeof import('node:path');
  try {
    return await fs.readFile(path.join(dir, TOKENIZER_FILE), 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw new ConfigError(
      'fromPretrained',
      TOKENIZER_FILE,
      'a readable file',
      `'${path.join(dir, TOKENIZER_FILE)}' (${String((error as Error).message)})`,
    );
  }
}

/** tokenizer.json served next to a directory URL's config.json; undefined on HTTP 404. */
async function fetchTokenizer(url: string): Promise<string | undefined> {
  const base = url.endsWith('/') ? url : `${url}/`;
  const href = new URL(TOKENIZER_FILE, base).href;
  const response = await fetch(href);
  if (response.status === 404) return undefined;
  if (!response.ok) {
    throw new ConfigError(
      'fromPretrained',
      TOKENIZER_FILE,
      'a URL that fetches (HTTP 2xx or 404)',
      `'${href}' (HTTP ${response.status})`,
    );
  }
  return response.text();
}

async function bytesOf(source: ModuleSource): Promise<Uint8Array | undefined> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    return new Uint8Array(await source.arrayBuffer());
  }
  return undefined;
}

/** The tokenizer's JSON text a source carries, if any; `source` may be replaced by its bytes. */
async function tokenizerText(
  source: ModuleSource,
): Promise<{ source: ModuleSource; text: string | undefined; where: string }> {
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
      return tokenizerText(new Uint8Array(await response.arrayBuffer()));
    }
    return { source, text: await fetchTokenizer(source), where: `'${source}' ${TOKENIZER_FILE}` };
  }
  if (typeof source === 'string' && !source.startsWith('indexeddb://')) {
    return {
      source,
      text: await readDirectoryTokenizer(source),
      where: `'${source}/${TOKENIZER_FILE}'`,
    };
  }
  const bytes = await bytesOf(source);
  if (bytes) {
    // Header only; loadModule validates the whole file.
    let text: string | undefined;
    try {
      text = readSafetensorsHeader(bytes).metadata[TOKENIZER_METADATA_KEY];
    } catch {
      text = undefined;
    }
    return { source: bytes, text, where: `bytes __metadata__.${TOKENIZER_METADATA_KEY}` };
  }
  return { source, text: undefined, where: 'source' };
}

/**
 * Loads a saved model with its tokenizer: `const { model, tokenizer } = await
 * fromPretrained('runs/shakespeare')`. Every source `loadModule` takes works (directory, URL,
 * bytes, Blob, `indexeddb://name`, artifacts, store); the tokenizer comes from tokenizer.json
 * in a directory (served or on disk) or the metadata of a one-file save, and is undefined when
 * the save has none. A tokenizer whose vocabulary differs from the model's `vocabSize` is refused.
 */
export async function fromPretrained<M extends Module = Module>(
  from: ModuleSource,
  options: LoadModuleOptions = {},
): Promise<Pretrained<M>> {
  const { source, text, where } = await tokenizerText(from);
  const tokenizer =
    text === undefined
      ? undefined
      : tokenizerFromJSON(
          parseJson('fromPretrained', where, text, { maxLength: MAX_TOKENIZER_CHARS }),
        );
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
 * tokenizer: `fromPretrained(bytes)` rebuilds both. For downloads, uploads and `File`s.
 */
export async function encodePretrained(
  model: Module,
  tokenizer?: Tokenizer,
  options: Parameters<typeof encodeModule>[1] = {},
): Promise<Uint8Array> {
  const metadata = { ...options.metadata };
  if (tokenizer) metadata[TOKENIZER_METADATA_KEY] = JSON.stringify(tokenizer.toJSON());
  return encodeModule(model, { ...options, metadata });
}
