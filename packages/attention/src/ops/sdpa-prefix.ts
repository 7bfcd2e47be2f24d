import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, formatShape } from '@attnkit/core';
import type { AttentionOptions, AttentionResult, KeyValuePrefix } from './options';
import { mergeAttention } from './merge';
import { checkNormalizerOption } from './normalizer-option';

/**
 * Attention over `prefix` keys/values (memory tokens, persistent memory: x-transformers'
 * memory key/values; Titans' persistent memory, Behrouz et al. 2024 sec. 4.3) that every query
 * sees, unmasked and unpositioned, together with the regular keys: the two parts run as
 * softmax attention on their own and combine by their log-sum-exp (mergeAttention), so the
 * result is one softmax over [prefix | keys]. `attend` runs the regular part.
 */
export function withPrefix(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: AttentionOptions,
  attend: (k: tf.Tensor4D, v: tf.Tensor4D, options: AttentionOptions) => AttentionResult,
): AttentionResult {
  const prefix = options.prefix!;
  checkPrefix(q, prefix, options);
  const run = (): AttentionResult => {
    const b = q.shape[0];
    const tile = (t: tf.Tensor4D) =>
      t.shape[0] === b ? t : (tf.tile(t, [b, 1, 1, 1]) as tf.Tensor4D);
    const regular = attend(k, v, { ...options, prefix: undefined, returnLogSumExp: true });
    const memory = attend(tile(prefix.keys), tile(prefix.values), {
      scale: options.scale,
      logitSoftcap: options.logitSoftcap,
      returnWeights: options.returnWeights,
      returnLogSumExp: true,
    });
    const parts = [memory, regular] as { output: tf.Tensor4D; logSumExp: tf.Tensor3D }[];
    const merged = mergeAttention(parts);
    const result: AttentionResult = { output: merged.output };
    if (options.returnLogSumExp) result.logSumExp = merged.logSumExp;
    if (options.returnWeights) {
      // Each part's weights rescaled to the joint softmax: w · exp(lse_part - lse).
      const rescale = (part: AttentionResult) =>
        tf.mul(part.weights!, tf.expandDims(tf.exp(tf.sub(part.logSumExp!, merged.logSumExp)), 3));
      result.weights = tf.concat([rescale(memory), rescale(regular)], 3) as tf.Tensor4D;
    }
    return result;
  };
  return tf.tidy(run as unknown as () => tf.TensorContainer) as unknown as AttentionResult;
}

function checkPrefix(q: tf.Tensor4D, prefix: KeyValuePrefix, options: AttentionOptions): void {
  const block = 'scaledDotProductAttention';
  const { keys, values } = prefix;
  const [b, , , d] = q.shape;
  const ok =
    keys.rank === 4 &&
    values.rank === 4 &&
    (keys.shape[0] === b || keys.shape[0] === 1) &&
    keys.shape[0] === values.shape[0] &&
    keys.shape[1] === values.shape[1] &&
    keys.shape[2] === values.shape[2] &&
    keys.shape[3] === d &&
    q.shape[1] % keys.shape[1] === 0;
  if (!ok) {
    throw new ShapeError(
      block,
      'prefix',
      `keys [${b} or 1, kvHeads dividing ${q.shape[1]}, p, ${d}] and values of the same batch, heads and p`,
      `keys ${formatShape(keys.shape)}, values ${formatShape(values.shape)}`,
    );
  }
  checkNormalizerOption(block, options);
  if ((options.dropout ?? 0) > 0) {
    throw new ConfigError(block, 'dropout', '0 with a prefix', String(options.dropout));
  }
}
