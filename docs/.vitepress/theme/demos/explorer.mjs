// The attention explorer's computation, run in the page's worker and by tools/demos/precompute.mjs
// in Node: a sentence through a trained character model, read out with the library's own
// inspection API (the `attentionHook` and `probe` options of a forward).
import * as tf from '@tensorflow/tfjs-core';

/** Mean of `values`, 0 for none. */
const mean = (values) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0);

/**
 * Per layer: each head's attention map [query][key] (causal: keys up to the query), its sink
 * mass (what the learned per-head sink logit takes from the softmax, 1 - Σ_k w_qk, mean over
 * queries) and its first-token mass (w_q0, mean over queries after the first: the attention
 * sink of StreamingLLM, Xiao et al. 2023); for a MoH model, the heads each token was routed to.
 * Also the next-token logits after the sentence and the five likeliest next characters.
 */
export function explore(model, tokenizer, text) {
  const ids = tokenizer.encode(text);
  if (ids.length === 0) throw new Error('explorer: the sentence expected at least one character');
  const maps = new Map();
  model.eval();
  const logits = tf.tidy(() => {
    const out = model.forward(tf.tensor2d(ids, [1, ids.length], 'int32'), {
      // Called once per layer with [batch, heads, tq, tk]; its tensors are freed after the call.
      attentionHook: ({ path, weights }) => maps.set(path, weights.arraySync()[0]),
    });
    return Array.from(tf.slice(out, [0, ids.length - 1, 0], [1, 1, -1]).dataSync());
  });
  const routing = routedHeads(model, ids);
  const layers = [...maps].map(([path, heads], layer) => ({
    path,
    heads: heads.map((rows) => ({
      map: rows.map((row, q) => row.slice(0, q + 1)),
      sinkMass: mean(rows.map((row) => 1 - row.reduce((a, b) => a + b, 0))),
      firstTokenMass: mean(rows.slice(1).map((row) => row[0])),
    })),
    routing: routing?.map((token) => token[layer]) ?? null,
  }));
  return {
    text,
    tokens: ids.map((id) => tokenizer.decode([id])),
    layers,
    logits,
    next: likeliest(logits, 5).map(({ id, p }) => ({ char: tokenizer.decode([id]), p })),
  };
}

/** The `k` likeliest ids under softmax(logits), with their probabilities. */
function likeliest(logits, k) {
  const max = Math.max(...logits);
  const exp = logits.map((l) => Math.exp(l - max));
  const total = exp.reduce((a, b) => a + b, 0);
  return exp
    .map((e, id) => ({ id, p: e / total }))
    .sort((a, b) => b.p - a.p)
    .slice(0, k);
}

/**
 * The heads each token used, per layer ([token][layer][head] = 1 or 0), or null for a model
 * without routed heads. MoH reports `headLoad` (tokens per head) to `probe` on each forward;
 * feeding the sentence one token at a time through the decoding state makes each report one
 * token's routing (cached decoding routes exactly as the full forward: routing is per token).
 */
function routedHeads(model, ids) {
  const state = model.initState(1);
  const perToken = [];
  try {
    for (const id of ids) {
      const layers = [];
      tf.tidy(() => {
        model.forward(tf.tensor2d([id], [1, 1], 'int32'), {
          state,
          probe: ({ name, value }) => {
            if (name === 'headLoad') layers.push(value);
          },
        });
      });
      if (layers.length === 0) return null;
      perToken.push(layers);
    }
  } finally {
    state.dispose();
  }
  return perToken;
}
