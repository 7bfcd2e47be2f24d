// The recurrent form of gated linear attention and of the (gated) delta rule, per head with a
// state S [dk, dv]:
//
//   S' = diag(exp(g_t)) S_{t-1}                          (g_t one log decay, or one per key dim)
//   u_t = β_t (v_t − S'ᵀ k_t)  with `delta`, else v_t    (Schlag et al. 2021, sec. 4; Yang,
//   S_t = S' + k_t u_tᵀ,   out_t = scale · S_tᵀ q_t         Kautz & Hatamizadeh 2025, sec. 3)
//
// Without `delta` and with a gate per key dimension this is GLA's recurrence (Yang et al. 2024,
// sec. 4); with `delta` and a scalar gate, Gated DeltaNet (zero gate: DeltaNet). One step at a
// time, which on a CPU costs about what the chunked forms cost (a [dk, dv] state stays in
// cache) and is exact. @attnkit/attention's deltaRule (both forms) and linearAttention with a
// per-dimension gate run it; @attnkit/backend-native implements it.

/** Forward kernel: inputs GatedRecurrenceInputs, attrs GatedRecurrenceAttrs, outputs GatedRecurrenceOutputs. */
export const GATED_RECURRENCE = 'AttnkitGatedRecurrence' as const;
/** Its gradient: inputs GatedRecurrenceGradInputs, same attrs, outputs GatedRecurrenceGradOutputs. */
export const GATED_RECURRENCE_GRAD = 'AttnkitGatedRecurrenceGrad' as const;

/** float32, every input present. */
export type GatedRecurrenceInputs<T> = {
  /** `[batch, heads, time, dk]`. */
  q: T;
  /** `[batch, heads, time, dk]`. */
  k: T;
  /** `[batch, heads, time, dv]`. */
  v: T;
  /** `[batch, heads, time]`: the delta rule's writing strength β_t (read with `delta` only). */
  beta: T;
  /**
   * `[batch, heads, time, 1]` (one decay per step) or `[batch, heads, time, dk]` (one per key
   * dimension): log of the decay, <= 0 in the mixers that use it; zeros: no decay.
   */
  logDecay: T;
  /** `[batch, heads, dk, dv]`: S before the first step. */
  s0: T;
};

export type GatedRecurrenceAttrs = {
  /** Multiplier of the output, finite. */
  scale: number;
  /** The delta-rule write (u_t = β_t (v_t − S'ᵀ k_t)); false: u_t = v_t. */
  delta: boolean;
};

/** `[output [batch, heads, time, dv], state [batch, heads, dk, dv]]` (S after the last step). */
export type GatedRecurrenceOutputs<T> = [output: T, state: T];

/** The forward's inputs and the gradients of its two outputs. */
export type GatedRecurrenceGradInputs<T> = GatedRecurrenceInputs<T> & {
  dOutput: T;
  dState: T;
};

/** Gradients of q, k, v, beta (zeros without `delta`), logDecay and s0, shaped as they are. */
export type GatedRecurrenceGradOutputs<T> = [dq: T, dk: T, dv: T, dBeta: T, dLogDecay: T, dS0: T];
