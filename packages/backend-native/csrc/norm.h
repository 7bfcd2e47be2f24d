// Row norms over the last axis with a gain (and LayerNorm's bias), forward and backward in one
// pass each: RMSNorm (Zhang & Sennrich 2019, eq. 4) and LayerNorm (Ba et al. 2016, eq. 4).
// The backward recomputes each row's statistics instead of saving them (one more read of x).
#pragma once
#include <cstdint>

namespace attnkit {

// The residual forms (a pre-norm block's add fused in): with `res`, the norm reads
// sum = x + res, written to `sum`; with `dsum`, the gradient reaching sum from elsewhere is
// added to dx (which is then the gradient of both x and res).

/** x, y [rows, d], w [d]: y = x / sqrt(mean(x²) + eps) · w. */
void rms_norm_forward(int64_t rows, int64_t d, const float* x, const float* w, float eps,
                      float* y, const float* res = nullptr, float* sum = nullptr);

/**
 * With x̂ = x·r, r = 1/sqrt(mean(x²) + eps), g = dy·w: dx = r·(g - x̂·mean(g·x̂)),
 * dw = Σ_rows dy·x̂.
 */
void rms_norm_backward(int64_t rows, int64_t d, const float* x, const float* w, const float* dy,
                       float eps, float* dx, float* dw, const float* dsum = nullptr);

/** y = (x - mean) / sqrt(var + eps) · w + b (biased variance, as the composite's moments). */
void layer_norm_forward(int64_t rows, int64_t d, const float* x, const float* w, const float* b,
                        float eps, float* y, const float* res = nullptr,
                        float* sum = nullptr);

/** dx = r·(g - mean(g) - x̂·mean(g·x̂)), dw = Σ dy·x̂, db = Σ dy. */
void layer_norm_backward(int64_t rows, int64_t d, const float* x, const float* w, const float* dy,
                         float eps, float* dx, float* dw, float* db,
                         const float* dsum = nullptr);

}  // namespace attnkit
