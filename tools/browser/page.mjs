// The test page: every package's main entry and the four browser backends, bundled by run.mjs.
// `?backend=<name>` picks one (initBackend with that name), no parameter lets initBackend choose.
/* global window */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { initBackend, isRegistered } from '@attnkit/core';
import '@attnkit/kernels';
import '@attnkit/positional';
import '@attnkit/attention';
import '@attnkit/routing';
import '@attnkit/memory';
import { patchWasmKernels } from '@attnkit/models';
import { runScenario } from './scenario.mjs';

setWasmPaths('/wasm/');

window.attnkitSuite = {
  /** initBackend's choice (and its log line) for a name, or for its default browser order. */
  async init(name) {
    const lines = [];
    const choice = await initBackend(name ?? undefined, { log: (l) => lines.push(l) });
    if (choice.name === 'wasm') patchWasmKernels();
    return { name: choice.name, backend: tf.getBackend(), line: lines[0] };
  },
  registered: (types) => types.filter((t) => !isRegistered(t)),
  async run(options) {
    const result = await runScenario(options);
    return { ...result, bytes: result.bytes.length };
  },
};
