import { registryInfo } from '@attnkit/core';
import { mixerContract } from '@attnkit/core/testing';
import '../../src';

describe.each(['knn-memory', 'retrieval-attention', 'prototype-memory'])(
  'mixer contract: %s',
  (type) => {
    const example = registryInfo(type)!.info.example as { type: string } & Record<string, unknown>;
    for (const check of mixerContract(example)) it(check.name, async () => check.run());
  },
);

// Variants the examples do not cover: decoding and state checks of the contract only.
const base = { type: 'knn-memory', dModel: 8, numHeads: 2, segmentLength: 2, topK: 2 };
describe.each([
  ['lru eviction, full memory', { ...base, capacity: 3, eviction: 'lru' }],
  ['no XL cache, l2 qk-norm', { ...base, capacity: 8, xlCache: false, qkNorm: 'l2' }],
  ['gate over an IVF index', { ...base, capacity: 8, index: 'ivf', nlist: 2, nprobe: 1 }],
  [
    'retrieval-attention with an XL cache',
    { ...base, type: 'retrieval-attention', capacity: 4, xlCache: true, nlist: 2, nprobe: 1 },
  ],
])('knn-memory variant: %s', (_name, config) => {
  for (const check of mixerContract(config, { time: 9 })) {
    if (/cached decoding|saves, restores|causal runs|leaks/.test(check.name)) {
      it(check.name, async () => check.run());
    }
  }
});
