// Helpers for loops that compilers vectorise: run-time ISA clones of a function (GCC/Clang on
// x86-64 Linux: AVX2+FMA and baseline, picked by the loader) and a branch-free expf.
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(ATTNKIT_NO_CLONES)
// No AVX-512 clone: GCC 12 leaves exp_f's selects as branches there (the loops stop
// vectorising), and AVX2 is as fast for these memory-bound loops. The GEMM has its own.
#define ATTNKIT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define ATTNKIT_CLONES
#endif

#if defined(_MSC_VER)
#define ATTNKIT_RESTRICT __restrict
#else
#define ATTNKIT_RESTRICT __restrict__
#endif

namespace attnkit {

constexpr float kInf = std::numeric_limits<float>::infinity();

/**
 * exp(x) for float, within 2 ulp of the correctly rounded value over the normal range
 * (Cody-Waite reduction x = n·ln2 + r, degree-6 polynomial for e^r, 2^n from the exponent
 * bits); 0 below -87.3 (no denormals), +inf above 88.72, NaN stays NaN. Written without
 * branches or library calls so loops over it vectorise.
 */
inline float exp_f(float x) {
  const float big = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  float xc = x > 88.72283935546875f ? 88.72283935546875f : x;
  xc = xc < -87.33654022216797f ? -87.33654022216797f : xc;
  const float n = (xc * 1.44269504088896341f + big) - big;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  float y = p * scale;
  y = x < -87.33654022216797f ? 0.0f : y;
  y = x > 88.72283935546875f ? kInf : y;
  return x != x ? x : y;
}

}  // namespace attnkit
