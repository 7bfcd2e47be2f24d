#include "gemm_pack.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ATTNKIT_HAVE_AVX2_PACK 1
#endif

namespace attnkit {
namespace {

void pack_scalar(const float* a, int64_t rs, int64_t k0, int64_t kc, int mr, int rows,
                 float* out) {
  for (int r = 0; r < rows; r++) {
    const float* src = a + r * rs;
    for (int64_t k = k0; k < kc; k++) out[k * mr + r] = src[k];
  }
}

#if ATTNKIT_HAVE_AVX2_PACK
/** Rows of v become its columns (v[q][c] <- v[c][q]). */
__attribute__((target("avx2"))) inline void transpose8(__m256 v[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  v[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  v[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  v[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  v[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

__attribute__((target("avx2"))) void pack_avx2(const float* a, int64_t rs, int64_t kc, int mr,
                                               int rows, float* out) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    int r = 0;
    for (; r + 8 <= rows; r += 8) {  // 8 rows × 8 columns
      __m256 v[8];
      for (int q = 0; q < 8; q++) v[q] = _mm256_loadu_ps(a + (r + q) * rs + k);
      transpose8(v);
      for (int q = 0; q < 8; q++) _mm256_storeu_ps(out + (k + q) * mr + r, v[q]);
    }
    for (; r + 4 <= rows; r += 4) {  // 4 rows: the low halves of the transposed columns
      __m256 v[8];
      for (int q = 0; q < 4; q++) v[q] = _mm256_loadu_ps(a + (r + q) * rs + k);
      for (int q = 4; q < 8; q++) v[q] = _mm256_setzero_ps();
      transpose8(v);
      for (int q = 0; q < 8; q++)
        _mm_storeu_ps(out + (k + q) * mr + r, _mm256_castps256_ps128(v[q]));
    }
    for (; r < rows; r++)
      for (int q = 0; q < 8; q++) out[(k + q) * mr + r] = a[r * rs + k + q];
  }
  pack_scalar(a, rs, k, kc, mr, rows, out);
}

bool has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}
#endif

}  // namespace

void pack_rows_transposed(const float* a, int64_t rs, int64_t kc, int mr, int rows, float* out) {
#if ATTNKIT_HAVE_AVX2_PACK
  static const bool avx2 = has_avx2();
  if (avx2) return pack_avx2(a, rs, kc, mr, rows, out);
#endif
  pack_scalar(a, rs, 0, kc, mr, rows, out);
}

}  // namespace attnkit
