import { ConfigError } from './errors';
import type { MixerCapabilities, MixerContext, PositionalEncoding } from './contracts';

/** What full softmax attention supports: the default a mixer narrows. */
export const SOFTMAX_CAPABILITIES: MixerCapabilities = Object.freeze<MixerCapabilities>({
  decoding: true,
  causal: 'either',
  strictlyCausal: true,
  positional: ['rotate', 'bias'],
  masks: true,
  segmentIds: true,
  attentionWeights: 'full',
  stateGrowth: 'linear',
  headControl: true,
  keyValuePrefix: true,
});

/**
 * The context checks every mixer shares, from its declared capabilities: causality, positional
 * kind, masks, segment ids, a decoding state, head control. One place, one wording.
 */
export function checkMixerContext(
  block: string,
  caps: MixerCapabilities,
  context: MixerContext,
): void {
  if (caps.causal === 'only' && context.causal === false) {
    throw new ConfigError(block, 'context.causal', 'true or unset (causal only)', 'false');
  }
  if (caps.causal === 'never' && context.causal === true) {
    throw new ConfigError(block, 'context.causal', 'false or unset (never causal)', 'true');
  }
  refusePositional(block, 'context.positional', caps, context.positional);
  if (!caps.masks && context.mask) {
    throw new ConfigError(block, 'context.mask', `no mask (${block} takes none)`, 'a mask');
  }
  if (!caps.segmentIds && context.segmentIds) {
    throw new ConfigError(
      block,
      'context.segmentIds',
      `no segment ids (${block} takes none)`,
      'segment ids',
    );
  }
  if (!caps.blockAttention && context.blockAttention) {
    throw new ConfigError(block, 'context.blockAttention', `unset (${block} takes none)`, 'true');
  }
  if (!caps.decoding && context.state) {
    throw new ConfigError(
      block,
      'context.state',
      `no decoding state (${block} cannot decode incrementally)`,
      'a state',
    );
  }
  if (!caps.keyValuePrefix && context.prefix) {
    throw new ConfigError(
      block,
      'context.prefix',
      `no key/value prefix (${block} takes none)`,
      'given',
    );
  }
  if (!caps.sharedKeyValues && context.sharedKeyValues) {
    const want = `no shared keys/values (${block} takes none)`;
    throw new ConfigError(block, 'context.sharedKeyValues', want, 'given');
  }
  if (!caps.headControl && context.heads) {
    throw new ConfigError(block, 'context.heads', `no head control (${block} takes none)`, 'given');
  }
}

function refusePositional(
  block: string,
  argument: string,
  caps: MixerCapabilities,
  positional: Pick<PositionalEncoding, 'kind'> | undefined,
): void {
  const kind = positional?.kind;
  if ((kind === 'rotate' || kind === 'bias') && !caps.positional.includes(kind)) {
    const takes = caps.positional.length ? caps.positional.join(' or ') : 'no rotate or bias';
    throw new ConfigError(
      block,
      argument,
      `an encoding of kind ${takes}, embed or none`,
      `'${kind}'`,
    );
  }
}

/** What a model asks of the mixers it holds, checked once when it is built. */
export interface MixerNeeds {
  /** The model runs the mixer causally (decoder) or not (encoder). */
  causal?: boolean;
  positional?: Pick<PositionalEncoding, 'kind'>;
  /** The model decodes incrementally with it (only required where the model cannot do without). */
  decoding?: boolean;
}

/**
 * Refuses, when a model is built, a mixer that cannot do what the model will ask of it, naming
 * the mixer's JSON path (`$.layerOverrides.2.mixer`), the field and the reason.
 */
export function requireCapabilities(
  block: string,
  path: string,
  caps: MixerCapabilities | undefined,
  needs: MixerNeeds,
): void {
  if (!caps) return;
  if (needs.causal === true && caps.causal === 'never') {
    throw new ConfigError(
      block,
      `${path}.type`,
      'a mixer that can run causally',
      `'${block}' (never causal)`,
    );
  }
  if (needs.causal === false && caps.causal === 'only') {
    throw new ConfigError(
      block,
      `${path}.type`,
      'a mixer that can run bidirectionally',
      `'${block}' (causal only)`,
    );
  }
  refusePositional(block, `${path} with positional`, caps, needs.positional);
  if (needs.decoding && !caps.decoding) {
    throw new ConfigError(
      block,
      `${path}.type`,
      'a mixer that decodes incrementally',
      `'${block}' (no decoding state)`,
    );
  }
}
