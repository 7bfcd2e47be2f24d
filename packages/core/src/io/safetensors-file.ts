// safetensors files on disk (Node only: fs is imported lazily, see node-fs.ts).
import type * as tf from '@tensorflow/tfjs-core';
import { SafetensorsError } from '../errors';
import { decodeFrom, encodeSafetensors } from './safetensors';
import type { DecodedSafetensors, EncodeSafetensorsOptions } from './safetensors';
import { fsReason, nodeFs, writeTemp } from './node-fs';

/**
 * Writes `tensors` to `file` atomically: the bytes go to a temp file in the same directory,
 * which is then renamed over `file`, so readers see the old file or the new one, never half.
 */
export async function saveSafetensors(
  file: string,
  tensors: Record<string, tf.Tensor>,
  metadata?: Record<string, string>,
  options: EncodeSafetensorsOptions = {},
): Promise<void> {
  const bytes = await encodeSafetensors(tensors, metadata, options);
  const { fs } = await nodeFs();
  let temp: string | undefined;
  try {
    temp = await writeTemp(file, bytes);
    await fs.rename(temp, file);
  } catch (error) {
    if (temp) await fs.rm(temp, { force: true });
    throw new SafetensorsError(
      'saveSafetensors',
      `file '${file}'`,
      'a writable path',
      fsReason(error),
    );
  }
}

/** Reads and validates a .safetensors file; the returned tensors belong to the caller. */
export async function loadSafetensors(file: string): Promise<DecodedSafetensors> {
  return decodeFrom(await readBytes(file, 'loadSafetensors'), `safetensors '${file}'`);
}

export async function readBytes(file: string, block: string): Promise<Uint8Array> {
  const { fs } = await nodeFs();
  try {
    const buffer = await fs.readFile(file);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (error) {
    throw new SafetensorsError(block, `file '${file}'`, 'a readable file', fsReason(error));
  }
}
