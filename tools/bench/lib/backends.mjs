// Loads the tfjs backends the user asked for; a backend that cannot load is skipped with a reason.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { REPO_ROOT } from './packages.mjs';

/**
 * Returns { name, ok, threads, note } for one backend. `threads` is how many cores its kernels
 * use, so PyTorch can be run with the same count for the ratio.
 */
export async function loadBackend(name, cores) {
  try {
    if (name === 'cpu') {
      await import('@tensorflow/tfjs-backend-cpu');
      // Plain JavaScript kernels: one thread.
      return { name, ok: true, threads: 1, note: 'JavaScript kernels, 1 thread' };
    }
    if (name === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
      await tf.ready();
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
      const threads = wasm.getThreadsCount?.() ?? 1;
      return {
        name,
        ok: true,
        threads,
        note: `XNNPACK${simd ? ' SIMD' : ''}, ${threads} thread${threads > 1 ? 's' : ''}`,
      };
    }
    if (name === 'native') {
      const dist = path.join(REPO_ROOT, 'packages/backend-native/dist/index.js');
      if (!fs.existsSync(dist)) {
        return {
          name,
          ok: false,
          reason: 'packages/backend-native/dist is missing (build it with its own build script)',
        };
      }
      const mod = await import('@attnkit/backend-native');
      if (!tf.findBackendFactory('native')) {
        return {
          name,
          ok: false,
          reason: "@attnkit/backend-native loaded but registered no backend named 'native'",
        };
      }
      if (!(await tf.setBackend('native')))
        throw new Error('tf.setBackend("native") returned false');
      await tf.ready();
      const threads = threadsOf(mod) ?? cores;
      return {
        name,
        ok: true,
        threads,
        note: `C++ kernels, ${threads} thread${threads > 1 ? 's' : ''}`,
      };
    }
    return { name, ok: false, reason: `unknown backend '${name}'` };
  } catch (err) {
    return { name, ok: false, reason: `could not load: ${firstLine(err)}` };
  }
}

function threadsOf(mod) {
  for (const key of ['getThreadsCount', 'getNumThreads', 'numThreads']) {
    const v = mod[key];
    const n = typeof v === 'function' ? v() : v;
    if (Number.isInteger(n) && n > 0) return n;
  }
  return undefined;
}

export async function useBackend(name) {
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

export function firstLine(err) {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0];
}
