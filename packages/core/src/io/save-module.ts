// A saved module: config.json (its registry config) + model.safetensors (its state dict), in a
// directory (Node; fs is imported lazily, see node-fs.ts) or any store of module-store.ts.
import * as tf from '@tensorflow/tfjs-core';
import {
  AttnkitError,
  ConfigError,
  SafetensorsError,
  StateDictError,
  withArgument,
} from '../errors';
import { build, checkConfigLimits, validateConfig } from '../registry';
import { type Estimate, type ResourceLimits, resolveLimits } from '../limits';
import { cut, parseJson } from '../safe-json';
import type { Module, ModuleOptions } from '../module';
import { decodeFrom, encodeSafetensors, parseHeader } from './safetensors';
import type { EncodeSafetensorsOptions } from './safetensors';
import { readBytes } from './safetensors-file';
import { fsReason, nodeFs, writeTemp } from './node-fs';
import { PAIR_DIGEST_KEY, configDigest, settlePair, syncDir } from './pair';
import {
  CONFIG_METADATA_KEY,
  type ModuleArtifacts,
  type ModuleSource,
  type ModuleStore,
  type ModuleTarget,
  artifactsOfFile,
  isArtifacts,
  isSchemeTarget,
  isStore,
  storeOf,
} from './module-store';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
/** Longest config.json loadModule reads (a real one is a few KB). */
export const MAX_CONFIG_CHARS = 2 ** 24;
/** How many parameters more than its weights file holds a loaded config may build. */
export const LOAD_SLACK_PARAMETERS = 2 ** 20;

export interface SaveModuleOptions {
  /** Replace an existing save in `dir` (default false: refuse). */
  overwrite?: boolean;
  /** Store float weights as F32 (default), F16 or BF16; they load back as float32. */
  dtype?: EncodeSafetensorsOptions['dtype'];
}

/** Re-raises a typed error with `context` in front of its argument (same class). */
function withContext(error: unknown, context: string): unknown {
  if (!(error instanceof AttnkitError)) return error;
  return withArgument(error, `${context} ${error.argument}`);
}

/** The config JSON and weights a save writes (weights metadata names type and config digest). */
async function moduleArtifacts(
  module: Module,
  dtype: SaveModuleOptions['dtype'],
  oneFile: boolean,
  extra: Record<string, string> = {},
): Promise<ModuleArtifacts> {
  if (module.isDisposed) {
    throw new ConfigError('saveModule', 'module', 'a live module', 'a disposed module');
  }
  // What loadModule will read back must validate: check the JSON form, not the object.
  let configJson: string;
  try {
    configJson = JSON.stringify(module.config, null, 2);
  } catch (error) {
    throw new ConfigError(
      'saveModule',
      'module.config',
      'JSON-serialisable',
      (error as Error).message,
    );
  }
  let type: string;
  try {
    type = validateConfig(JSON.parse(configJson)).type;
  } catch (error) {
    throw withContext(error, `(saving ${module.blockName}) module.config`);
  }
  const digest = await configDigest(JSON.parse(configJson));
  // Extra keys first: they never replace the keys loadModule reads.
  const metadata: Record<string, string> = { ...extra, format: 'attnkit', type };
  if (digest !== undefined) metadata[PAIR_DIGEST_KEY] = digest;
  if (oneFile) metadata[CONFIG_METADATA_KEY] = JSON.stringify(module.config);
  const weights = await encodeSafetensors(module.stateDict(), metadata, { dtype });
  return { config: configJson + '\n', weights };
}

/**
 * Encodes `module` as one self-contained safetensors file (the config in its metadata), for
 * memory, a download or an upload; `loadModule(bytes)` rebuilds it.
 */
export async function encodeModule(
  module: Module,
  options: Pick<SaveModuleOptions, 'dtype'> & {
    /** More `__metadata__` entries (models' `encodePretrained` stores the tokenizer here). */
    metadata?: Record<string, string>;
  } = {},
): Promise<Uint8Array> {
  return (await moduleArtifacts(module, options.dtype, true, options.metadata)).weights;
}

/**
 * Saves `module` to `target`: a directory (Node) as config.json + model.safetensors,
 * `indexeddb://name` (browser), or any `ModuleStore`. In a directory, both files are written to
 * temp names and flushed before either is renamed into place, weights first; a save killed
 * between the two renames is completed by the next save or load (see pair.ts), so readers see
 * the old pair or the new one. Other files in the directory are left alone.
 */
export async function saveModule(
  target: ModuleTarget,
  module: Module,
  options: SaveModuleOptions = {},
): Promise<void> {
  const { overwrite = false, dtype } = options;
  const store =
    typeof target === 'string' && isSchemeTarget(target) ? storeOf(target, 'saveModule') : target;
  if (typeof store !== 'string') {
    if (!store.save) {
      throw new ConfigError(
        'saveModule',
        'target',
        'a store that saves',
        `'${store.description}' (read only)`,
      );
    }
    await store.save(await moduleArtifacts(module, dtype, false), { overwrite });
    return;
  }
  const dir = store;
  const { config: configJson, weights } = await moduleArtifacts(module, dtype, false);
  const { fs, path } = await nodeFs();
  const configPath = path.join(dir, CONFIG_FILE);
  const weightsPath = path.join(dir, WEIGHTS_FILE);
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (error) {
    throw new ConfigError(
      'saveModule',
      'dir',
      'a directory that can be created',
      `'${dir}' (${fsReason(error)})`,
    );
  }
  // Finish a save killed between its renames, remove dead writers' temporaries.
  await settlePair(dir, CONFIG_FILE, WEIGHTS_FILE);
  for (const file of [configPath, weightsPath]) {
    const stat = await fs.lstat(file).catch(() => undefined);
    if (stat && !stat.isFile()) {
      throw new ConfigError(
        'saveModule',
        'dir',
        `'${file}' to be a regular file`,
        'something else (a directory or a link)',
      );
    }
    if (stat && !overwrite) {
      throw new ConfigError(
        'saveModule',
        'options.overwrite',
        `true to replace the save in '${dir}'`,
        `false, and '${file}' exists`,
      );
    }
  }

  const temps: string[] = [];
  try {
    temps.push(await writeTemp(weightsPath, weights));
    temps.push(await writeTemp(configPath, configJson));
    // Weights first: they name their config's digest, so a kill between the renames is
    // rolled forward from the config temporary (pair.ts).
    await fs.rename(temps[0]!, weightsPath);
    await syncDir(dir);
    await fs.rename(temps[1]!, configPath);
    await syncDir(dir);
  } catch (error) {
    await Promise.all(temps.map((t) => fs.rm(t, { force: true })));
    throw new ConfigError(
      'saveModule',
      'dir',
      `a writable directory`,
      `'${dir}' (${fsReason(error)})`,
    );
  }
}

/** Options of `loadModule`: the module's and the resource limits its build runs under. */
export interface LoadModuleOptions extends ModuleOptions, ResourceLimits {}

/** A source's config text and a way to read its weights, with the names errors use. */
interface ReadSource {
  text: string;
  weights: () => Promise<Uint8Array>;
  /** Quoted names of the two parts, e.g. `'runs/a/config.json'`. */
  configName: string;
  weightsName: string;
}

async function readDirectory(dir: string): Promise<ReadSource> {
  const { fs, path } = await nodeFs();
  const configPath = path.join(dir, CONFIG_FILE);
  const weightsPath = path.join(dir, WEIGHTS_FILE);
  await settlePair(dir, CONFIG_FILE, WEIGHTS_FILE);
  let text: string;
  try {
    text = await fs.readFile(configPath, 'utf8');
  } catch (error) {
    const reason = fsReason(error);
    const dirExists = await fs.stat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    throw new ConfigError(
      'loadModule',
      'dir',
      `a directory holding ${CONFIG_FILE} and ${WEIGHTS_FILE}`,
      dirExists ? `'${dir}' without a readable ${CONFIG_FILE} (${reason})` : `'${dir}' (${reason})`,
    );
  }
  return {
    text,
    weights: () => readBytes(weightsPath, 'loadModule'),
    configName: `'${configPath}'`,
    weightsName: `'${weightsPath}'`,
  };
}

async function readSource(source: ModuleSource): Promise<ReadSource> {
  if (typeof source === 'string' && !isSchemeTarget(source)) return readDirectory(source);
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    source = new Uint8Array(await source.arrayBuffer());
  }
  if (source instanceof ArrayBuffer) source = new Uint8Array(source);
  let artifacts: ModuleArtifacts;
  let name: string;
  if (source instanceof Uint8Array) {
    [artifacts, name] = [artifactsOfFile(source, 'bytes'), 'bytes'];
  } else if (isArtifacts(source)) {
    [artifacts, name] = [source, 'artifacts'];
  } else {
    const store: ModuleStore | undefined =
      typeof source === 'string'
        ? storeOf(source, 'loadModule')
        : isStore(source)
          ? source
          : undefined;
    if (!store?.load) {
      throw new ConfigError(
        'loadModule',
        'source',
        'a directory, URL, indexeddb:// name, bytes, a Blob or a store that loads',
        store ? `'${store.description}' (write only)` : typeof source,
      );
    }
    [artifacts, name] = [await store.load(), store.description];
  }
  const { config, weights } = artifacts;
  return {
    text: config,
    weights: async () => weights,
    configName: `'${name}' config`,
    weightsName: `'${name}' weights`,
  };
}

/**
 * Rebuilds a module saved by `saveModule` or `encodeModule`, from a directory (Node), a URL
 * (fetch), `indexeddb://name`, a one-file save's bytes or Blob (File), or a store, checking before it
 * allocates: the config is read under the JSON limits and validated by the registry (errors
 * name the file and the JSON path), the weights file's header is validated without reading
 * tensor data, the parameters the config asks for are compared with what the file holds (no
 * build can allocate more than the file holds, nor more than `maxParameters` / `maxBytes`), and
 * only then is the module built and the weights loaded strictly.
 */
export async function loadModule<M extends Module = Module>(
  from: ModuleSource,
  options: LoadModuleOptions = {},
): Promise<M> {
  const read = await readSource(from);
  const { text, configName: configPath, weightsName: weightsPath } = read;
  const json = parseJson('loadModule', configPath, text, { maxLength: MAX_CONFIG_CHARS });
  const limits = resolveLimits(options);
  let config: { type: string };
  let estimate: Estimate | undefined;
  try {
    config = validateConfig(json);
    estimate = checkConfigLimits(config, '$', limits);
  } catch (error) {
    throw withContext(error, configPath);
  }

  const source = `safetensors ${weightsPath}`;
  const bytes = await read.weights();
  // The header alone: shapes and dtypes, no tensor data read yet.
  const header = parseHeader(bytes, source);
  if (header.metadata.type !== undefined && header.metadata.type !== config.type) {
    throw new SafetensorsError(
      source,
      '__metadata__ type',
      `'${config.type}' (the type in ${CONFIG_FILE})`,
      `'${cut(header.metadata.type)}'`,
    );
  }
  const held = Object.values(header.tensors).reduce(
    (n, t) => n + t.shape.reduce((a, b) => a * b, 1),
    0,
  );
  // A config may ask for at most what the file holds plus a small slack (so a near miss still
  // builds and the strict load names the mismatched tensors): a forged config.json cannot make
  // a file of kilobytes allocate gigabytes.
  const cap = Math.min(limits.maxParameters, held + LOAD_SLACK_PARAMETERS);
  const refuse = (asked: string): StateDictError =>
    new StateDictError(
      config.type,
      `weights in ${weightsPath}`,
      `the parameters ${configPath} builds (${asked})`,
      `${held} parameters in the file`,
    );
  if (estimate && estimate.parameters > cap && cap < limits.maxParameters) {
    throw refuse(`${estimate.parameters}`);
  }
  let module: M;
  try {
    module = build<M>(config, { ...options, maxParameters: cap, maxBytes: limits.maxBytes });
  } catch (error) {
    // Without an estimate, the build's backstop stops it at the file's size.
    const overFile =
      cap < limits.maxParameters &&
      error instanceof ConfigError &&
      error.expected.startsWith(`at most maxParameters ${cap} `);
    if (overFile) throw refuse(`more than ${cap}`);
    throw withContext(error, configPath);
  }
  let tensors: Record<string, tf.Tensor> = {};
  try {
    tensors = decodeFrom(bytes, source).tensors;
    module.loadStateDict(tensors);
  } catch (error) {
    module.dispose();
    if (error instanceof StateDictError) {
      throw new StateDictError(
        error.block,
        `weights in ${weightsPath}`,
        'tensors matching the module parameters (names, shapes, dtypes)',
        error.actual,
      );
    }
    throw error;
  } finally {
    tf.dispose(Object.values(tensors));
  }
  // Same shapes, other config (edited, or a racing save): refuse rather than load a mix.
  const digest = header.metadata[PAIR_DIGEST_KEY];
  const own = digest === undefined ? undefined : await configDigest(json);
  if (digest !== undefined && own !== undefined && digest !== own) {
    module.dispose();
    throw new SafetensorsError(
      source,
      `__metadata__ ${PAIR_DIGEST_KEY}`,
      `the digest of ${configPath} (the pair saveModule wrote)`,
      `${digest.slice(0, 12)}… (${CONFIG_FILE} changed after saving, or a save raced this load; save again)`,
    );
  }
  return module;
}
