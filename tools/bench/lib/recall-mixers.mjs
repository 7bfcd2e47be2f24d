// The causal mixers of the recall study, by family, with the options each needs at a width of
// `dModel` (head size 16). Windows, blocks and top-k are sized so that a mixer that only looks
// locally sees about a quarter of a 64-token example, as `sliding-window` does: a local mixer
// that answers MQAR at T = 64 must have found the pairs through its selection, not its window.
// Left out: encoder-only mixers; mixers that are not strictly causal (routing-transformer,
// flexprefill), since a decoder trained with them may read the answer from later tokens; and
// top-theta, which keeps every key until its thresholds are calibrated on a trained model.

export const FAMILIES = {
  baselines: ['mha', 'sliding-window'],
  linear: [
    'linear-attention',
    'performer',
    'lightning',
    'retnet',
    'gla',
    'based',
    'lln',
    'deltanet',
    'gated-deltanet',
    'flowformer',
    'fast',
    'lit',
    'latte',
    'arflow-hybrid',
  ],
  recurrent: ['aaren', 'mamba', 'mamba2', 'mega', 'hymba', 'softmax-rnn'],
  sparse: [
    'topk-attention',
    'loki',
    'lowbit-block-topk',
    'moba',
    'nsa',
    'seer-attention',
    'hip-attention',
    'dhsa',
    's2-attention',
    'mixture-of-sparse-attention',
    'core-context-aware',
    'coarse-to-fine-attention',
    'neighborhood-attention',
  ],
};

/** The family a mixer is listed under (for the table's grouping), or 'other'. */
export function familyOf(type) {
  return Object.keys(FAMILIES).find((f) => FAMILIES[f].includes(type)) ?? 'other';
}

/** `--mixers` entries: names, or `@family` for a whole family (`@all` for every one). */
export function expandMixers(list) {
  return list.flatMap((m) => {
    if (m === '@all') return Object.values(FAMILIES).flat();
    if (m.startsWith('@')) {
      const family = FAMILIES[m.slice(1)];
      if (!family) throw new Error(`recall: unknown family ${m} (${Object.keys(FAMILIES)})`);
      return family;
    }
    return [m];
  });
}

/** The mixer config at a width: head size 16 (numHeads = dModel / 16). */
export function mixerFor(type, dModel) {
  const numHeads = dModel / 16;
  const extra = {
    'sliding-window': { window: 16 },
    mamba: {},
    mamba2: { headDim: 16 },
    // Mega's one attention head is zDim wide (default ⌈d/4⌉, 16 at d 64): kept at 16, the
    // width the model's rotary encoding is built for.
    mega: { chunkSize: 16, ...(Math.ceil(dModel / 4) === 16 ? {} : { zDim: 16 }) },
    // Hymba's heads are expand·dModel / numHeads wide: twice the heads keeps them 16 wide.
    hymba: { numHeads: 2 * numHeads, window: 16 },
    latte: { numLatents: 16 },
    // Softmax inside a chunk: a chunk of 64 would be full attention over a 64-token example.
    'arflow-hybrid': { chunkSize: 16 },
    'topk-attention': { topK: 16 },
    loki: { topK: 16, rank: 8 },
    'lowbit-block-topk': { blockSize: 8, topBlocks: 2 },
    moba: { blockSize: 8, topK: 2 },
    nsa: { blockSize: 8, numSelected: 2, window: 8 },
    'seer-attention': { blockSize: 8, topK: 2 },
    'hip-attention': { blockSize: 8, topK: 2 },
    dhsa: { topK: 16, maxChunkSize: 8, window: 8 },
    's2-attention': { numShards: Math.min(4, numHeads), window: 8 },
    'mixture-of-sparse-attention': {
      rules: Array.from({ length: numHeads }, (_, h) => ({ alpha: 8, beta: h % 2 ? 0.25 : 0 })),
    },
    'core-context-aware': { groupSize: 8, window: 8 },
    'coarse-to-fine-attention': { regionSize: 8, topk: 2, causal: true },
    'neighborhood-attention': { kernelSize: 16, causal: true },
  };
  const base = type.startsWith('mamba') || type === 'mega' ? { type } : { type, numHeads };
  return { ...base, ...(extra[type] ?? {}) };
}
