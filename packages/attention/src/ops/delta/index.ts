import * as tf from '@tensorflow/tfjs-core';
import type { DeltaCore, DeltaRuleForm, DeltaRuleOptions, DeltaRuleResult } from './types';
import { validateDelta } from './validate';
import { deltaChunk } from './chunk';
import { deltaRecurrent } from './recurrent';
import { gatedRecurrenceKernel } from '../gated-recurrence';

export type { DeltaRuleForm, DeltaRuleOptions, DeltaRuleResult } from './types';

// Both forms run the backend's GATED_RECURRENCE kernel when it has one (the exact recurrence,
// gradient included, in one call); otherwise the composites.
const CORES: Record<DeltaRuleForm, DeltaCore> = {
  chunk: (q, k, v, beta, g, s0, chunkSize) =>
    gatedRecurrenceKernel(q, k, v, { logDecay: g, beta, s0 }) ??
    deltaChunk(q, k, v, beta, g, s0, chunkSize),
  recurrent: (q, k, v, beta, g, s0) =>
    gatedRecurrenceKernel(q, k, v, { logDecay: g, beta, s0 }) ??
    deltaRecurrent(q, k, v, beta, g, s0),
};

/**
 * The delta rule (Schlag et al. 2021, "Linear Transformers Are Secretly Fast Weight
 * Programmers", sec. 4; DeltaNet, Yang et al. 2024) and the gated delta rule (Yang, Kautz &
 * Hatamizadeh 2025, "Gated Delta Networks", sec. 3), per head with state S [dk, dv]:
 *
 *   S_t = α_t (I − β_t k_t k_tᵀ) S_{t-1} + β_t k_t v_tᵀ,    o_t = scale · S_tᵀ q_t
 *
 * α_t = exp(gate_t) (1 without a gate, DeltaNet), β_t the writing strength. Each write
 * replaces what S held for k_t by v_t in proportion β_t; it is stable for ‖k_t‖ = 1 and
 * β_t ∈ [0, 2] (the mixers L2-normalise k). q, k [batch, heads, time, dk], v [.., dv], beta
 * [batch, heads, time]. Two forms compute the same thing: 'chunk' (default: the WY/UT chunkwise
 * form, see chunk.ts) and 'recurrent' (token by token, for decoding). The state after the last
 * token comes back; passing it as `initialState` to the call over the next tokens continues
 * the sequence exactly.
 */
export function deltaRule(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  beta: tf.Tensor3D,
  options: DeltaRuleOptions = {},
): DeltaRuleResult {
  const geo = validateDelta(q, k, v, beta, options);
  return tf.tidy(() => {
    const qs = geo.scale === 1 ? q : (tf.mul(q, geo.scale) as tf.Tensor4D);
    const core = CORES[geo.form];
    const r = core(
      qs,
      k,
      v,
      beta,
      options.gate ?? null,
      options.initialState ?? null,
      geo.chunkSize,
    );
    return { output: r.output, state: r.state };
  });
}
