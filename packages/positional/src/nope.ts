import { z } from 'zod';
import type { ModuleOptions, PositionalEncoding } from '@attnkit/core';
import { Module, register, parseConfig, estimateOf } from '@attnkit/core';

export const nopeSchema = z.strictObject({
  type: z.literal('nope').default('nope'),
});
export type NopeConfig = z.input<typeof nopeSchema>;

/**
 * No positional encoding (Kazemnejad et al. 2023): a causal decoder infers positions from its
 * mask alone. Explicitly nothing: kind 'none', no methods, no parameters.
 */
export class NoPositional
  extends Module<z.output<typeof nopeSchema>>
  implements PositionalEncoding
{
  readonly kind = 'none' as const;

  constructor(config: NopeConfig = {}, options: ModuleOptions = {}) {
    super(parseConfig('nope', nopeSchema, config), options);
  }
}

register('nope', (c, o) => new NoPositional(c, o), nopeSchema, {
  category: 'positional',
  estimate: () => estimateOf(0),
  info: {
    paper: 'Kazemnejad et al. 2023, The Impact of Positional Encoding on Length Generalization',
    summary: 'No positional encoding: a causal decoder infers positions from its mask.',
    example: { type: 'nope' },
  },
});
