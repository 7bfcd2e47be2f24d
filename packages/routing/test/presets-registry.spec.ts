import { listPresets, presets, getPreset } from '@attnkit/core';
import { routingPresets } from '@attnkit/routing';

describe('routing registers its own presets', () => {
  it('adds them to core when imported, with a summary each', () => {
    expect(listPresets()).toEqual(['moe-lm-tiny', 'moh-lm-tiny', 'moh-vit-tiny']);
    for (const name of Object.keys(routingPresets)) {
      expect(getPreset(name)).toEqual(routingPresets[name]);
      expect(presets.info(name)!.summary).toMatch(/tiny with/);
    }
  });
});
