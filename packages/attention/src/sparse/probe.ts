import type * as tf from '@tensorflow/tfjs-core';
import type { MixerContext } from '@attnkit/core';

/**
 * Sends a sparse mixer's choice (selected key blocks, cluster members: int indices, -1 = empty)
 * to `context.probe` as a flat list, with its shape as the name's suffix; read only when probed.
 */
export function reportSelection(
  block: string,
  context: MixerContext,
  name: string,
  selected: tf.Tensor,
): void {
  if (!context.probe) return;
  context.probe({
    block,
    path: context.path ?? '',
    name: `${name}[${selected.shape.join(',')}]`,
    value: Array.from(selected.dataSync()),
  });
}
