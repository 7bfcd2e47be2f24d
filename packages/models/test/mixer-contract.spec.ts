// The mixer contract from @attnkit/core/testing over every registered mixer, each built from the
// example config its registration carries, so a new mixer is covered without editing this spec.
import { registeredTypes, registryInfo } from '@attnkit/core';
import { mixerContract } from '@attnkit/core/testing';
import '@attnkit/attention';
import '@attnkit/routing';
import '@attnkit/memory';
import '@attnkit/models';

describe.each(registeredTypes('mixer'))('mixer contract: %s', (type) => {
  const example = registryInfo(type)?.info?.example as Record<string, unknown> | undefined;
  it('registers an example config', () => expect(example).toBeDefined());
  if (!example) return;
  // Small widths keep the suite fast; the example's own dModel is used when it has none.
  for (const check of mixerContract({ dModel: 8, ...example, type })) {
    it(check.name, async () => {
      await check.run();
    });
  }
});
