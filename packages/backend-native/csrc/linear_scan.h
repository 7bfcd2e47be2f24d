// The first-order linear recurrence h_t = a_t ⊙ h_{t-1} + b_t along time (Martin & Cundy 2018;
// Blelloch 1990 for the scan view), the core of SSMs, EMAs and gated linear RNNs, and its
// gradient, itself the same recurrence run backwards.
#pragma once
#include <cstdint>

namespace attnkit {

/** a, b, h [batch, t, channels], h0 and last [batch, channels]. */
void linear_scan_forward(int64_t batch, int64_t t, int64_t channels, const float* a,
                         const float* b, const float* h0, float* h, float* last);

/**
 * From the forward's a, h0 and h, and dh, dlast: δ_t = dh_t + a_{t+1} δ_{t+1} (δ_T gets dlast),
 * da_t = δ_t h_{t-1}, db_t = δ_t, dh0 = a_1 δ_1.
 */
void linear_scan_backward(int64_t batch, int64_t t, int64_t channels, const float* a,
                          const float* h0, const float* h, const float* dh, const float* dlast,
                          float* da, float* db, float* dh0);

}  // namespace attnkit
