import * as tf from '@tensorflow/tfjs-core';
import * as core from '@attnkit/core';

type InitBackend = (preference?: string) => Promise<{ name: string; tried?: unknown }>;

/**
 * Picks the backend: core's `initBackend` when it is available, else the first of wasm and cpu
 * that loads. `preference` names one backend to use.
 */
export async function selectBackend(preference?: string): Promise<string> {
  const init = (core as unknown as { initBackend?: InitBackend }).initBackend;
  if (typeof init === 'function') return (await init(preference)).name;
  const order = preference ? [preference] : ['wasm', 'cpu'];
  for (const name of order) {
    try {
      if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
      if (name === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
    } catch {
      // try the next one
    }
  }
  throw new Error(`backend: none of ${order.join(', ')} could be initialised`);
}
