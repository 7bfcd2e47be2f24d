#include "glu.h"

#include <cmath>

#include "exp_row.h"
#include "rows.h"
#include "simd.h"

namespace attnkit {
namespace {

constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2Pi = 0.79788456080286535588;  // sqrt(2/π)

// σ(x) in one pass with the explicit-AVX2 exponential: inside the ISA clones GCC keeps exp_f's
// selects as branches and a fused loop over it runs scalar.
void sigmoid_into(const float* x, int64_t n, float* s) { sigmoid_row_fast(x, n, s); }

ATTNKIT_CLONES void silu_forward(int64_t n, const float* g, const float* u, float* y) {
  sigmoid_into(g, n, y);
  for (int64_t i = 0; i < n; i++) y[i] = g[i] * y[i] * u[i];
}

ATTNKIT_CLONES void silu_backward(int64_t n, const float* g, const float* u, const float* dy,
                                  float* dg, float* du) {
  sigmoid_into(g, n, dg);  // dg holds σ(g) until overwritten
  for (int64_t i = 0; i < n; i++) {
    const float s = dg[i];
    du[i] = dy[i] * g[i] * s;
    dg[i] = dy[i] * u[i] * (s * (1.0f + g[i] * (1.0f - s)));
  }
}

/** act(x) and act'(x) in double for the erf / tanh GELUs and ReLU. */
void scalar_act(int act, double x, double* f, double* df) {
  if (act == kGluGelu) {
    const double cdf = 0.5 * (1.0 + std::erf(x * kSqrt1_2));
    *f = x * cdf;
    *df = cdf + x * kInvSqrt2Pi * std::exp(-0.5 * x * x);
  } else if (act == kGluGeluTanh) {
    const double t = std::tanh(kSqrt2Pi * (x + 0.044715 * x * x * x));
    *f = 0.5 * x * (1.0 + t);
    *df = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * kSqrt2Pi * (1.0 + 3.0 * 0.044715 * x * x);
  } else {
    *f = x > 0 ? x : 0.0;
    *df = x > 0 ? 1.0 : 0.0;
  }
}

}  // namespace

void glu_forward(int64_t n, int act, const float* gate, const float* up, float* y) {
  for_row_blocks(n, 1, [&](int64_t, int64_t i0, int64_t i1) {
    if (act == kGluSilu) {
      silu_forward(i1 - i0, gate + i0, up + i0, y + i0);
      return;
    }
    for (int64_t i = i0; i < i1; i++) {
      double f, df;
      scalar_act(act, gate[i], &f, &df);
      y[i] = static_cast<float>(f) * up[i];
    }
  });
}

void glu_backward(int64_t n, int act, const float* gate, const float* up, const float* dy,
                  float* dgate, float* dup) {
  for_row_blocks(n, 1, [&](int64_t, int64_t i0, int64_t i1) {
    if (act == kGluSilu) {
      silu_backward(i1 - i0, gate + i0, up + i0, dy + i0, dgate + i0, dup + i0);
      return;
    }
    for (int64_t i = i0; i < i1; i++) {
      double f, df;
      scalar_act(act, gate[i], &f, &df);
      dup[i] = dy[i] * static_cast<float>(f);
      dgate[i] = dy[i] * up[i] * static_cast<float>(df);
    }
  });
}

}  // namespace attnkit
