// Picks the fastest TensorFlow.js backend installed, trying optional peers by dynamic import.
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';

/**
 * Fastest first, in Node. wasm comes before cpu: a 256x256 float32 matmul measured 18-32
 * GFLOP/s on wasm against 1.2 GFLOP/s on the plain cpu backend (Node 20, 2 cores).
 */
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu'] as const;
/** Fastest first, in a browser (or a worker): the GPU backends, then wasm, then cpu. */
export const BROWSER_BACKEND_ORDER = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number] | (typeof BROWSER_BACKEND_ORDER)[number];
const ALL_BACKENDS: readonly BackendName[] = [
  ...BACKEND_ORDER,
  ...BROWSER_BACKEND_ORDER.filter((n) => !(BACKEND_ORDER as readonly string[]).includes(n)),
];

/** Whether this runs in Node (else a browser, a worker or another JS runtime). */
export function isNodeRuntime(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** The package to import for each backend and the name it registers with tfjs. */
export const BACKEND_PACKAGES: Record<BackendName, { module: string; tfjsName: string }> = {
  'tensorflow-gpu': { module: '@tensorflow/tfjs-node-gpu', tfjsName: 'tensorflow' },
  tensorflow: { module: '@tensorflow/tfjs-node', tfjsName: 'tensorflow' },
  native: { module: '@attnkit/backend-native', tfjsName: 'native' },
  webgpu: { module: '@tensorflow/tfjs-backend-webgpu', tfjsName: 'webgpu' },
  webgl: { module: '@tensorflow/tfjs-backend-webgl', tfjsName: 'webgl' },
  wasm: { module: '@tensorflow/tfjs-backend-wasm', tfjsName: 'wasm' },
  cpu: { module: '@tensorflow/tfjs-backend-cpu', tfjsName: 'cpu' },
};

export interface InitBackendOptions {
  /** Loads an optional peer (default: dynamic `import()`); tests pass a double. */
  importer?: (moduleName: string) => Promise<unknown>;
  /** Receives the one-line summary (default console.info; `() => {}` silences it). */
  log?: (line: string) => void;
  /** Which default order to try (default: detected): BACKEND_ORDER or BROWSER_BACKEND_ORDER. */
  runtime?: 'node' | 'browser';
}

export interface BackendAttempt {
  name: BackendName;
  ok: boolean;
  reason?: string;
}

export interface BackendChoice {
  /** The chosen entry of BACKEND_ORDER, e.g. 'tensorflow-gpu'. */
  name: BackendName;
  /** The tfjs backend now active, e.g. 'tensorflow' (what tf.getBackend() returns). */
  backend: string;
  /** Every candidate tried, in order; only the last has ok: true. */
  tried: BackendAttempt[];
}

const defaultImporter = (moduleName: string): Promise<unknown> =>
  import(/* webpackIgnore: true */ /* @vite-ignore */ moduleName);

function firstLine(error: unknown): string {
  const text = String((error as Error)?.message ?? error).split('\n')[0]!;
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function isNotInstalled(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return (
    code === 'MODULE_NOT_FOUND' ||
    code === 'ERR_MODULE_NOT_FOUND' ||
    /cannot find module/i.test(firstLine(error))
  );
}

function candidatesOf(preference: unknown, runtime: 'node' | 'browser'): BackendName[] {
  const order = runtime === 'node' ? BACKEND_ORDER : BROWSER_BACKEND_ORDER;
  const list =
    preference === undefined ? [...order] : Array.isArray(preference) ? preference : [preference];
  if (list.length === 0) {
    throw new ConfigError(
      'initBackend',
      'preference',
      `one or more of ${order.join(', ')}`,
      'an empty list',
    );
  }
  for (const name of list) {
    if (!(ALL_BACKENDS as readonly unknown[]).includes(name)) {
      throw new ConfigError(
        'initBackend',
        'preference',
        `names from ${ALL_BACKENDS.map((n) => `'${n}'`).join(', ')}`,
        typeof name === 'string' ? `'${name}'` : String(name),
      );
    }
  }
  return list as BackendName[];
}

/**
 * The cpu backend greets its first tensor in Node with "Hi, looks like you are running
 * TensorFlow.js in Node.js..." (tfjs-backend-cpu's `write`, once per backend, while `firstUse`).
 * initBackend names the backend it chose, and a user who set cpu chose it: mark it used. Also
 * run by every Module's constructor, so a model built after `tf.setBackend('cpu')` is quiet too.
 */
export function quietCpuBanner(): void {
  try {
    const backend = tf.backend() as unknown as { firstUse?: boolean };
    if (backend.firstUse === true) backend.firstUse = false;
  } catch {
    // no backend yet: nothing to quiet
  }
}

/** Imports the package and switches to its backend; returns why not, or undefined on success. */
async function tryBackend(
  name: BackendName,
  importer: (moduleName: string) => Promise<unknown>,
): Promise<string | undefined> {
  const { module, tfjsName } = BACKEND_PACKAGES[name];
  try {
    await importer(module);
  } catch (error) {
    // A backend registered by the app itself (e.g. a static import in a browser bundle, where
    // bare dynamic imports do not resolve) is still usable; tensorflow-gpu cannot be told
    // apart from tensorflow by its registration, so it needs its own import to succeed.
    const registered = name !== 'tensorflow-gpu' && tf.findBackendFactory(tfjsName) != null;
    if (!registered) {
      return isNotInstalled(error)
        ? `${module} is not installed`
        : `${module} failed to load (${firstLine(error)})`;
    }
  }
  if (!tf.findBackendFactory(tfjsName)) {
    return `${module} loaded but registered no '${tfjsName}' backend`;
  }
  try {
    if (!(await tf.setBackend(tfjsName))) return `backend '${tfjsName}' failed to initialise`;
    await tf.ready();
  } catch (error) {
    return `backend '${tfjsName}' failed to initialise (${firstLine(error)})`;
  }
  quietCpuBanner();
  return readsBack(tfjsName);
}

/**
 * A computed value read back synchronously, as training and generation do (`dataSync`): WebGPU
 * on a software adapter (headless Chromium's SwiftShader) starts, then reads zeros and loses its
 * device, so a backend that cannot do this is skipped rather than chosen.
 */
function readsBack(tfjsName: string): string | undefined {
  let value: number | undefined;
  try {
    value = tf.tidy(() => tf.sum(tf.mul(tf.tensor1d([1, 2, 3]), tf.scalar(2))).dataSync()[0]);
  } catch (error) {
    return `backend '${tfjsName}' cannot read values back synchronously (${firstLine(error)})`;
  }
  return value === 12
    ? undefined
    : `backend '${tfjsName}' reads back wrong values (2*(1+2+3) read as ${value})`;
}

/**
 * Switches tfjs to the first backend in `preference` (default BACKEND_ORDER in Node,
 * BROWSER_BACKEND_ORDER in a browser: webgpu, webgl, wasm, cpu) whose package imports (or that
 * the app registered itself, as a browser bundle does with a static import) and initialises,
 * and logs one line naming it and why earlier ones were skipped; tfjs' own "install the node
 * backend" banner is silenced, as that line already says which backend runs. Throws
 * ConfigError for unknown names, or when none of the candidates works.
 */
export async function initBackend(
  preference?: BackendName | BackendName[],
  options: InitBackendOptions = {},
): Promise<BackendChoice> {
  const candidates = candidatesOf(
    preference,
    options.runtime ?? (isNodeRuntime() ? 'node' : 'browser'),
  );
  const importer = options.importer ?? defaultImporter;
  const log = options.log ?? ((line: string) => console.info(line));
  const tried: BackendAttempt[] = [];
  for (const name of candidates) {
    const reason = await tryBackend(name, importer);
    if (reason !== undefined) {
      tried.push({ name, ok: false, reason });
      continue;
    }
    tried.push({ name, ok: true });
    const backend = BACKEND_PACKAGES[name].tfjsName;
    const skipped = tried.filter((t) => !t.ok).map((t) => `${t.name}: ${t.reason}`);
    log(
      `attnkit: using backend '${name}' (tfjs '${backend}')` +
        (skipped.length ? `; skipped ${skipped.join('; ')}` : ''),
    );
    return { name, backend, tried };
  }
  throw new ConfigError(
    'initBackend',
    'preference',
    'at least one backend that loads',
    tried.map((t) => `${t.name}: ${t.reason}`).join('; '),
  );
}
