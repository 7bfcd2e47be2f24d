import { CORE_CONFIG_TYPES, registeredTypes } from '@attnkit/core';
import { POSITIONAL_CONFIG_TYPES } from '@attnkit/positional';
import { ATTENTION_CONFIG_TYPES } from '@attnkit/attention';
import { ROUTING_CONFIG_TYPES } from '@attnkit/routing';
import { MEMORY_CONFIG_TYPES } from '@attnkit/memory';
import { MODELS_CONFIG_TYPES } from '@attnkit/models';

describe('AttnkitConfigs (the compile-time config map)', () => {
  it('holds every registered type, deprecated aliases too, and no other', () => {
    const lists = [
      CORE_CONFIG_TYPES,
      POSITIONAL_CONFIG_TYPES,
      ATTENTION_CONFIG_TYPES,
      ROUTING_CONFIG_TYPES,
      MEMORY_CONFIG_TYPES,
      MODELS_CONFIG_TYPES,
    ];
    const mapped: string[] = lists.flat();
    expect(new Set(mapped).size).toBe(mapped.length); // no type in two packages' maps
    const registered = registeredTypes(undefined, { deprecated: true });
    expect({ missing: registered.filter((t) => !mapped.includes(t)) }).toEqual({ missing: [] });
    expect({ unregistered: mapped.filter((t) => !registered.includes(t)) }).toEqual({
      unregistered: [],
    });
  });
});
