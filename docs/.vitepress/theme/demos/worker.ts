// The demos' module Web Worker: loads the backends (webgl, then wasm, then cpu unless the page
// asks otherwise), the shipped models, and runs each demo off the page's main thread, posting
// progress as it goes. Vite bundles it (and the packages' browser builds: @attnkit/* resolve
// to their dist/ ES modules) into its own chunks; the backends load on demand.
/// <reference lib="webworker" />
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '@attnkit/core';
import { fromPretrained, patchWasmKernels } from '@attnkit/models';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { explore } from './explorer.mjs';
import { continueText, promptLogits } from './generate.mjs';
import { trainRun } from './train.mjs';
import type { DemoRequest, WorkerMessage } from './protocol';

declare const self: DedicatedWorkerGlobalScope;

/** Backends imported only when tried (a bare dynamic import does not resolve in a bundle). */
const importers: Record<string, () => Promise<unknown>> = {
  '@tensorflow/tfjs-backend-webgl': () => import('@tensorflow/tfjs-backend-webgl'),
  '@tensorflow/tfjs-backend-webgpu': () => import('@tensorflow/tfjs-backend-webgpu'),
  '@tensorflow/tfjs-backend-cpu': () => import('@tensorflow/tfjs-backend-cpu'),
  '@tensorflow/tfjs-backend-wasm': async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths({
      'tfjs-backend-wasm.wasm': wasmPlain,
      'tfjs-backend-wasm-simd.wasm': wasmSimd,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
    });
    return wasm;
  },
};

let backend: Promise<{ name: string; note: string }> | undefined;
let backendKey = '';

const importer = (name: string) =>
  (importers[name] ?? (() => Promise.reject(new Error(`${name} is not bundled`))))();

/** The WebGL renderer's name (e.g. "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device ...))"). */
function webglRenderer(): string {
  const gl = (tf.backend() as unknown as { gpgpu?: { gl?: WebGL2RenderingContext } }).gpgpu?.gl;
  const info = gl?.getExtension('WEBGL_debug_renderer_info');
  return info && gl ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
}

/**
 * The first backend of `preference` that starts (core's initBackend), except that WebGL on a
 * software renderer (SwiftShader, llvmpipe: no GPU) is passed over when more backends follow:
 * it runs these small models tens of times slower than wasm. `?backend=webgl` still gets it.
 */
async function chooseBackend(preference: BackendName[]): Promise<{ name: string; note: string }> {
  const skipped: string[] = [];
  for (let from = 0; from < preference.length;) {
    let line = '';
    const choice = await initBackend(preference.slice(from), { importer, log: (l) => (line = l) });
    const skippedNow = /; skipped (.*)$/.exec(line)?.[1];
    if (skippedNow) skipped.push(skippedNow);
    const at = preference.indexOf(choice.name);
    const renderer = choice.name === 'webgl' ? webglRenderer() : '';
    const software = /swiftshader|llvmpipe|software/i.exec(renderer)?.[0];
    if (software && at < preference.length - 1) {
      skipped.push(`webgl: software renderer (${software})`);
      from = at + 1;
      continue;
    }
    // The repo's wasm kernel fixes (see the tfjs quirks in @attnkit/models' kernels/wasm).
    if (choice.name === 'wasm') patchWasmKernels();
    // Shapes as uniforms: one compiled shader per op, not one per input shape (the decoding
    // state grows a key per token, which otherwise compiles new shaders at every step).
    if (choice.name === 'webgl') tf.env().set('WEBGL_USE_SHAPES_UNIFORMS', true);
    return { name: choice.name, note: skipped.length ? `skipped ${skipped.join('; ')}` : '' };
  }
  throw new Error(`no backend of ${preference.join(', ')} to run on`);
}

function useBackends(preference: BackendName[]): Promise<{ name: string; note: string }> {
  const key = preference.join(',');
  if (!backend || key !== backendKey) {
    backendKey = key;
    backend = chooseBackend(preference);
  }
  return backend;
}

type Loaded = Awaited<ReturnType<typeof fromPretrained>>;
const models = new Map<string, Promise<Loaded>>();

/** A shipped model with its tokenizer, fetched once per worker. */
function model(url: string): Promise<Loaded> {
  if (!models.has(url)) {
    const loading = fromPretrained(url);
    // A failed load is not kept: the next run tries again.
    loading.catch(() => models.delete(url));
    models.set(url, loading);
  }
  return models.get(url)!;
}

const post = (message: WorkerMessage) => self.postMessage(message);
/** Lets the worker's event loop run (and its messages go out) between long synchronous steps. */
const breathe = () => new Promise((resolve) => setTimeout(resolve, 0));

async function run(request: DemoRequest): Promise<unknown> {
  const { id } = request;
  if (request.demo === 'explorer') {
    const { model: m, tokenizer } = await model(request.modelUrl);
    return explore(m, tokenizer, request.text);
  }
  if (request.demo === 'generate') {
    const { model: m, tokenizer } = await model(request.modelUrl);
    let text = '';
    for await (const piece of continueText(m, tokenizer, request.settings)) {
      text += piece;
      post({ id, type: 'progress', data: { text } });
    }
    return { text, logits: promptLogits(m, tokenizer, request.settings.prompt) };
  }
  let last: unknown;
  for (const report of trainRun(request.mixer, request.task)) {
    last = report;
    post({ id, type: 'progress', data: report });
    await breathe();
  }
  return last;
}

let queue: Promise<void> = Promise.resolve();
self.onmessage = (event: MessageEvent<DemoRequest>) => {
  const request = event.data;
  // One demo at a time: the backend and its memory are shared.
  queue = queue.then(async () => {
    try {
      const chosen = await useBackends(request.backends);
      post({ id: request.id, type: 'backend', data: chosen });
      const started = performance.now();
      const result = await run(request);
      post({ id: request.id, type: 'done', data: { result, ms: performance.now() - started } });
    } catch (error) {
      post({ id: request.id, type: 'error', data: String((error as Error)?.message ?? error) });
    }
  });
};
