// The gate of a GLU feed-forward, y = act(gate) ⊙ up (Shazeer 2020, eqs. 5-6), and its
// gradient, elementwise in one pass each.
#pragma once
#include <cstdint>

namespace attnkit {

/** 0 silu, 1 gelu (erf), 2 gelu-tanh, 3 relu. */
enum GluActivation : int { kGluSilu = 0, kGluGelu = 1, kGluGeluTanh = 2, kGluRelu = 3 };

void glu_forward(int64_t n, int act, const float* gate, const float* up, float* y);

/** dgate = dy·up·act'(gate), dup = dy·act(gate). */
void glu_backward(int64_t n, int act, const float* gate, const float* up, const float* dy,
                  float* dgate, float* dup);

}  // namespace attnkit
