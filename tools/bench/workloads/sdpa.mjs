// Scaled dot-product attention softmax(QKᵀ/√d + causal mask)·V: @attnkit/attention's
// scaledDotProductAttention, and (full runs) the same math written with plain tfjs-core ops in
// this file, which shows what attnkit's op adds or saves over the obvious composite.
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

/** The composite every tfjs user can write: two matmuls, an additive causal mask, softmax. */
function plainTfjsAttention(q, k, v, { causal }) {
  return tf.tidy(() => {
    const [tq, tk] = [q.shape[2], k.shape[2]];
    let logits = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(q.shape[3]));
    if (causal) {
      const allowed = tf.linalg.bandPart(tf.ones([tq, tk]), -1, tk - tq);
      logits = tf.add(logits, tf.mul(tf.sub(1, allowed), -1e9));
    }
    return tf.matMul(tf.softmax(logits), v);
  });
}

export default {
  name: 'sdpa',
  title: `sdpa, batch ${BATCH}, ${HEADS} heads, d=${HEAD_DIM}, causal`,
  async load() {
    // Importing core registers tfjs' gradient functions (needed for the backward rows).
    const core = await importPackage('core');
    if (!core.mod) return core;
    const r = await importPackage('attention');
    if (r.error) return r;
    let reason = r.skip;
    if (r.mod) reason = requireExports(r.mod, 'attention', ['scaledDotProductAttention']).skip;
    return {
      api: { sdpa: reason ? undefined : r.mod.scaledDotProductAttention, missing: reason },
      notes: reason ? [`attnkit rows skipped: ${reason}`] : [],
    };
  },
  cases({ quick }, api) {
    const lengths = quick ? [128, 256] : [128, 256, 512, 1024];
    // The plain-tfjs rows cost as much again; quick runs keep them only when attnkit's op is absent.
    const impls = quick && !api.missing ? ['attnkit'] : ['attnkit', 'tfjs'];
    const out = [];
    for (const impl of impls) {
      const tag = impl === 'attnkit' ? '' : 'tfjs-';
      const name = impl === 'attnkit' ? '' : 'plain tfjs ';
      const skip = impl === 'attnkit' ? api.missing : undefined;
      for (const T of lengths) {
        const fwd = 4 * BATCH * HEADS * T * T * HEAD_DIM;
        const params = { impl, batch: BATCH, heads: HEADS, T, d: HEAD_DIM, causal: true };
        const torchParams = {
          kind: 'sdpa',
          batch: BATCH,
          heads: HEADS,
          T,
          d: HEAD_DIM,
          causal: true,
        };
        const base = { x: T, skip };
        out.push({
          ...base,
          id: `sdpa-${tag}fwd-${T}`,
          label: `${name}fwd T=${T}`,
          series: `sdpa-${tag}fwd`,
          flops: fwd,
          params: { ...params, backward: false },
          torch: { ...torchParams, backward: false },
        });
        out.push({
          ...base,
          id: `sdpa-${tag}fwdbwd-${T}`,
          label: `${name}fwd+bwd T=${T}`,
          series: `sdpa-${tag}fwdbwd`,
          flops: 3 * fwd,
          params: { ...params, backward: true },
          torch: { ...torchParams, backward: true },
        });
        if (impl === 'attnkit' && T > CHUNK) {
          // Same math in chunks of keys with an online softmax: memory O(T·chunk), not O(T²).
          out.push({
            ...base,
            id: `sdpa-chunked-fwd-${T}`,
            label: `fwd chunk=${CHUNK} T=${T}`,
            series: 'sdpa-chunked-fwd',
            flops: fwd,
            params: { ...params, backward: false, chunkSize: CHUNK },
            torch: { ...torchParams, backward: false },
          });
        }
      }
    }
    return out;
  },
  async prepare(_ctx, api, c) {
    const { impl, batch, heads, T, d, causal, backward, chunkSize } = c.params;
    const shape = [batch, heads, T, d];
    const [q, k, v] = [1, 2, 3].map((seed) => tf.randomNormal(shape, 0, 1, 'float32', seed));
    const options = chunkSize ? { causal, chunkSize } : { causal };
    const attend =
      impl === 'tfjs'
        ? (q, k, v) => plainTfjsAttention(q, k, v, options)
        : (q, k, v) => outputOf(api.sdpa(q, k, v, options));
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
