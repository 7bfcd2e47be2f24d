// Depthwise 2-D correlation, NHWC, stride 1, no dilation, no padding, one output per channel:
// the short causal convolution of H3/Mamba-style mixers runs on it (time as the width), forward
// and backward. tfjs' cpu kernel loops element by element through index arithmetic.
#pragma once
#include <cstdint>

namespace attnkit {

/**
 * x [batch, height, width, channels], filter [fh, fw, channels] -> out [batch, height - fh + 1,
 * width - fw + 1, channels]: out[b, y, x, c] = Σ_{i, j} x[b, y + i, x + j, c] · filter[i, j, c].
 */
void depthwise_forward(int64_t batch, int64_t height, int64_t width, int64_t channels,
                       int64_t fh, int64_t fw, const float* x, const float* filter, float* out);

}  // namespace attnkit
