// Mamba's selective scan (Gu & Dao 2023, Alg. 2, S6) with zero-order-hold decay Ā = exp(ΔA)
// and B̄x ≈ ΔBx: h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t x_t, y_t = C_t h_t + D x_t, one [N] state
// per channel, without materialising the [b, t, E, N] decays, inputs or states.
#pragma once
#include <cstdint>

namespace attnkit {

struct ScanShape {
  int64_t batch, t, channels, state;  // b, t, E, N
};

/**
 * u, delta [b,t,E], A [E,N], B, C [b,t,N], D [E], h0 [b,E,N] -> y [b,t,E], last [b,E,N].
 */
void selective_scan_forward(const ScanShape& s, const float* u, const float* delta,
                            const float* A, const float* B, const float* C, const float* D,
                            const float* h0, float* y, float* last);

/** Gradients of sum(dy · y) + sum(dlast · last) with respect to every input. */
void selective_scan_backward(const ScanShape& s, const float* u, const float* delta,
                             const float* A, const float* B, const float* C, const float* D,
                             const float* h0, const float* dy, const float* dlast, float* du,
                             float* ddelta, float* dA, float* dB, float* dC, float* dD,
                             float* dh0);

}  // namespace attnkit
