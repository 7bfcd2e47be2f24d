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
