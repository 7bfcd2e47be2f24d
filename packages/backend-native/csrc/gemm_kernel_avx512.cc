// AVX-512 micro-kernel: a 12×32 tile of C in 24 zmm accumulators; per k, two loads of B and
// twelve broadcasts of A feed 24 FMAs.
#include "gemm.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

namespace attnkit {
namespace {

constexpr int MR = 12;
constexpr int NR = 32;

__attribute__((target("avx512f"))) void kernel(int64_t kc, const float* a, const float* b,
                                                float* c, int64_t ldc, bool accumulate) {
  __m512 acc[MR][2];
#pragma GCC unroll 12
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
      const __m512 x = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
    }
    a += MR;
    b += NR;
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; i++) {
    float* row = c + i * ldc;
    if (accumulate) {
      _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), acc[i][0]));
      _mm512_storeu_ps(row + 16, _mm512_add_ps(_mm512_loadu_ps(row + 16), acc[i][1]));
    } else {
      _mm512_storeu_ps(row, acc[i][0]);
      _mm512_storeu_ps(row + 16, acc[i][1]);
    }
  }
}

}  // namespace

KernelInfo gemm_kernel_avx512() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) return {MR, NR, nullptr, "avx512 12x32"};
  return {MR, NR, kernel, "avx512 12x32"};
}

}  // namespace attnkit

#else

namespace attnkit {
KernelInfo gemm_kernel_avx512() { return {12, 32, nullptr, "avx512 12x32"}; }
}  // namespace attnkit

#endif
