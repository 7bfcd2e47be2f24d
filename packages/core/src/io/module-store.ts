// Where saveModule writes and loadModule reads, in the spirit of tf.io's IOHandlers: a saved
// module is two artifacts, its registry config (JSON text) and its weights (safetensors bytes),
// and a store moves them. Built in: a directory (Node, save-module.ts), one self-contained
// safetensors file in memory (the config rides in its metadata), a URL read with fetch, and
// IndexedDB in a browser. Anything with `save`/`load` is a store too.
import { ConfigError } from '../errors';
import { parseHeader } from './safetensors';

/** A saved module: its config as JSON text and its weights as a safetensors file. */
export interface ModuleArtifacts {
  config: string;
  weights: Uint8Array;
}

/** A place a module is saved to or loaded from (a store may do only one of the two). */
export interface ModuleStore {
  /** How errors name the store: `'runs/a'`, `indexeddb://a`, `https://…/model.safetensors`. */
  readonly description: string;
  save?(artifacts: ModuleArtifacts, options: { overwrite: boolean }): Promise<void>;
  load?(): Promise<ModuleArtifacts>;
}

/**
 * What loadModule reads: a path, URL or `indexeddb://name`, one file's bytes (a `Uint8Array`,
 * an `ArrayBuffer`, or a `Blob` such as a `File` from an `<input type="file">`), the artifacts,
 * or a store.
 */
export type ModuleSource = string | Uint8Array | ArrayBuffer | Blob | ModuleArtifacts | ModuleStore;
/** What saveModule writes to: a directory path, `indexeddb://name`, or a store. */
export type ModuleTarget = string | ModuleStore;

/** The weights metadata key of a one-file save that holds the config's JSON. */
export const CONFIG_METADATA_KEY = 'attnkit_config';
export const INDEXEDDB_SCHEME = 'indexeddb://';
const URL_SCHEME = /^(https?|blob|data|file):/i;

/** Whether `target` names a URL or an IndexedDB entry rather than a directory. */
export function isSchemeTarget(target: string): boolean {
  return target.startsWith(INDEXEDDB_SCHEME) || URL_SCHEME.test(target);
}

/** The store a URL or `indexeddb://name` string names (directories are save-module's). */
export function storeOf(target: string, block: string): ModuleStore {
  if (target.startsWith(INDEXEDDB_SCHEME)) {
    const name = target.slice(INDEXEDDB_SCHEME.length);
    if (name.length === 0) {
      throw new ConfigError(block, 'target', `'${INDEXEDDB_SCHEME}<name>'`, `'${target}'`);
    }
    return indexedDbStore(name);
  }
  return urlStore(target);
}

/**
 * Reads a saved module over fetch: a URL ending in `.safetensors` is one self-contained file
 * (`encodeModule`); any other is a directory holding config.json and model.safetensors (what
 * `saveModule(dir)` wrote, served as static files).
 */
export function urlStore(url: string, init?: RequestInit): ModuleStore {
  const get = async (href: string): Promise<Response> => {
    const fetcher = (globalThis as { fetch?: typeof fetch }).fetch;
    if (!fetcher) throw new ConfigError('loadModule', 'url', 'a runtime with fetch', 'none');
    let response: Response;
    try {
      response = await fetcher(href, init);
    } catch (error) {
      throw new ConfigError('loadModule', 'url', 'a URL that fetches', `'${href}' (${error})`);
    }
    if (!response.ok) {
      throw new ConfigError(
        'loadModule',
        'url',
        'a URL that fetches (HTTP 2xx)',
        `'${href}' (HTTP ${response.status})`,
      );
    }
    return response;
  };
  const bytes = async (href: string) => new Uint8Array(await (await get(href)).arrayBuffer());
  return {
    description: url,
    async load() {
      if (/\.safetensors([?#].*)?$/i.test(url)) return artifactsOfFile(await bytes(url), url);
      const base = url.endsWith('/') ? url : `${url}/`;
      const config = await (await get(new URL('config.json', base).href)).text();
      return { config, weights: await bytes(new URL('model.safetensors', base).href) };
    },
  };
}

/** Module saves in the browser's IndexedDB: database `attnkit`, object store `modules`. */
export function indexedDbStore(name: string): ModuleStore {
  const description = `${INDEXEDDB_SCHEME}${name}`;
  const request = <T>(run: (modules: IDBObjectStore) => IDBRequest<T>, mode: IDBTransactionMode) =>
    new Promise<T>((resolve, reject) => {
      const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
      if (!idb) {
        reject(new ConfigError('moduleStore', description, 'a runtime with IndexedDB', 'none'));
        return;
      }
      const open = idb.open('attnkit', 1);
      open.onupgradeneeded = () => open.result.createObjectStore('modules');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        const tx = db.transaction('modules', mode);
        const req = run(tx.objectStore('modules'));
        tx.oncomplete = () => {
          db.close();
          resolve(req.result);
        };
        tx.onerror = () => {
          db.close();
          reject(tx.error);
        };
      };
    });
  return {
    description,
    async save(artifacts, { overwrite }) {
      const existing = await request((m) => m.count(name), 'readonly');
      if (existing > 0 && !overwrite) {
        throw new ConfigError(
          'saveModule',
          'options.overwrite',
          `true to replace the save in '${description}'`,
          'false, and it exists',
        );
      }
      await request((m) => m.put({ ...artifacts }, name), 'readwrite');
    },
    async load() {
      const found = (await request((m) => m.get(name), 'readonly')) as ModuleArtifacts | undefined;
      if (!found) {
        throw new ConfigError('loadModule', 'source', 'a saved module', `no '${description}'`);
      }
      return found;
    },
  };
}

/** A one-file save (`encodeModule`): the config is read from the weights' metadata. */
export function artifactsOfFile(weights: Uint8Array, source: string): ModuleArtifacts {
  const config = parseHeader(weights, `safetensors ${source}`).metadata[CONFIG_METADATA_KEY];
  if (config === undefined) {
    throw new ConfigError(
      'loadModule',
      source,
      `a safetensors file with its config in __metadata__.${CONFIG_METADATA_KEY} (encodeModule)`,
      'a file without one',
    );
  }
  return { config, weights };
}

/** Whether a loadModule source is a store or artifacts rather than a path or bytes. */
export function isStore(source: unknown): source is ModuleStore {
  return typeof source === 'object' && source !== null && 'description' in source;
}

export function isArtifacts(source: unknown): source is ModuleArtifacts {
  return (
    typeof source === 'object' &&
    source !== null &&
    typeof (source as ModuleArtifacts).config === 'string' &&
    (source as ModuleArtifacts).weights instanceof Uint8Array
  );
}
