// Scaled dot-product attention softmax(QKᵀ/√d + causal mask)·V from @attnkit/attention.
// FLOP counted: forward 4·B·H·T²·d (QKᵀ and P·V), forward+backward 12·B·H·T²·d (adds dV, dP,
// dQ and dK, four more products of the same size); softmax and masking are not counted and the
// causal half is counted in full, as a naive kernel computes it.
import * as tf from '@tensorflow/tfjs-core';
import { importPackage, requireExports } from '../lib/packages.mjs';
import { settle } from '../lib/measure.mjs';

const BATCH = 1;
const HEADS = 8;
const HEAD_DIM = 64;
const CHUNK = 128;

export default {
  name: 'sdpa',
  title: `sdpa, batch ${BATCH}, ${HEADS} heads, d=${HEAD_DIM}, causal`,
  async load() {
    const r = await importPackage('attention');
    if (!r.mod) return r;
    const missing = requireExports(r.mod, 'attention', ['scaledDotProductAttention']);
    if (missing.skip) return missing;
    return { api: { sdpa: r.mod.scaledDotProductAttention } };
  },
  cases({ quick }) {
    const lengths = quick ? [128, 256] : [128, 256, 512, 1024];
    const out = [];
    for (const T of lengths) {
      const fwd = 4 * BATCH * HEADS * T * T * HEAD_DIM;
      const params = { batch: BATCH, heads: HEADS, T, d: HEAD_DIM, causal: true };
      out.push({
        id: `sdpa-fwd-${T}`,
        label: `fwd T=${T}`,
        series: 'sdpa-fwd',
        x: T,
        flops: fwd,
        params: { ...params, backward: false },
        torch: { kind: 'sdpa', ...params, backward: false },
      });
      out.push({
        id: `sdpa-fwdbwd-${T}`,
        label: `fwd+bwd T=${T}`,
        series: 'sdpa-fwdbwd',
        x: T,
        flops: 3 * fwd,
        params: { ...params, backward: true },
        torch: { kind: 'sdpa', ...params, backward: true },
      });
      if (T > CHUNK) {
        // Same math in chunks of keys with an online softmax: memory O(T·chunk), not O(T²).
        out.push({
          id: `sdpa-chunked-fwd-${T}`,
          label: `fwd chunk=${CHUNK} T=${T}`,
          series: 'sdpa-chunked-fwd',
          x: T,
          flops: fwd,
          params: { ...params, backward: false, chunkSize: CHUNK },
          torch: { kind: 'sdpa', ...params, backward: false },
        });
      }
    }
    return out;
  },
  async prepare(_ctx, api, c) {
    const { batch, heads, T, d, causal, backward, chunkSize } = c.params;
    const shape = [batch, heads, T, d];
    const [q, k, v] = [1, 2, 3].map((seed) => tf.randomNormal(shape, 0, 1, 'float32', seed));
    const options = chunkSize ? { causal, chunkSize } : { causal };
    const attend = (q, k, v) => outputOf(api.sdpa(q, k, v, options));
    const step = backward
      ? () => settle(tf.grads(attend)([q, k, v]))
      : () => settle(tf.tidy(() => attend(q, k, v)));
    return { step, dispose: () => tf.dispose([q, k, v]) };
  },
};

/** Ops may return the output alone or with a final state. */
export function outputOf(result) {
  if (result instanceof tf.Tensor) return result;
  if (result && result.output instanceof tf.Tensor) {
    if (result.state?.dispose) result.state.dispose();
    return result.output;
  }
  throw new Error('scaledDotProductAttention returned neither a tensor nor { output }');
}
