import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '@attnkit/core';
import { BACKEND_ORDER, initBackend } from '@attnkit/core';
import { CliError } from './errors';
import { patchWasmKernels } from '../kernels/wasm';

/**
 * Picks the backend with core's `initBackend` (the fastest installed, or `preference`), then
 * swaps in the faster wasm kernels when wasm won. Returns the name in BACKEND_ORDER.
 */
export async function selectBackend(preference?: string, quiet = false): Promise<string> {
  if (preference !== undefined && !(BACKEND_ORDER as readonly string[]).includes(preference)) {
    throw new CliError(
      `--backend expected one of ${BACKEND_ORDER.join(', ')}, got '${preference}'`,
    );
  }
  const log = quiet ? () => {} : (line: string) => process.stderr.write(`${line}\n`);
  const choice = await initBackend(preference as BackendName | undefined, { log });
  if (tf.getBackend() === 'wasm') patchWasmKernels();
  return choice.name;
}
