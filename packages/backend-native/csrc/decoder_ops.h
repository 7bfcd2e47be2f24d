// The fused decoder's per-row arithmetic (decoder.cc, decoder_moe.cc): products with weights
// stored [in, out] as core's Linear, norms, activations and the position-wise feed-forward.
#pragma once
#include <cstdint>

#include "decoder.h"

namespace attnkit {

// Below this many multiply-adds a product runs on the caller: waking the pool costs more.
constexpr int64_t kDecoderParallelWork = INT64_C(1) << 16;
constexpr int kDecoderColumnBlock = 64;

/** y[1, out] = x[1, in] W + b as a matrix-vector product. */
void dense_row(const DecoderDense& d, const float* x, float* y);

/** y[rows, out] = x[rows, in] W + b: one row as a matrix-vector product, more through the GEMM. */
void dense(const DecoderDense& d, const float* x, float* y, int rows);

float dot(const float* a, const float* b, int n);

/** RMSNorm (Zhang & Sennrich 2019, eq. 4) or LayerNorm (Ba et al. 2016, eq. 4) of x into y. */
void normalize(const DecoderNorm& n, const float* x, float* y, int d);

float activate(int act, float x);

/**
 * Position-wise feed-forward of x [rows, in] into out [rows, down.out]; hidden and gate hold
 * rows × up.out values each.
 */
void feed_forward(const DecoderFeedForward& f, const float* x, int rows, float* hidden,
                  float* gate, float* out);

}  // namespace attnkit
