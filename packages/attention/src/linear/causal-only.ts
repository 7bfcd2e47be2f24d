import { ConfigError } from '@attnkit/core';

/**
 * Refuses `causal: false` for a mixer whose decay runs towards the past only (RetNet, TransNormer,
 * GLA): the op's decay has no bidirectional form, so an encoder use would silently drop it.
 */
export function causalOnly<C extends { type: string; causal?: boolean }>(config: C): C {
  if (config.causal === false) {
    throw new ConfigError(config.type, 'causal', 'true (a decayed mixer is causal only)', 'false');
  }
  return config;
}
