#include "exp_row.h"

#include "simd.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ATTNKIT_HAVE_AVX2_EXP 1
#endif

namespace attnkit {
namespace {

void exp_scalar(float* x, int64_t n, float shift) {
  for (int64_t j = 0; j < n; j++) x[j] = exp_f(x[j] - shift);
}

#if ATTNKIT_HAVE_AVX2_EXP
// exp_f, eight lanes at a time: every step is the same float operation (no FMA contraction).
__attribute__((target("avx2"))) void exp_avx2(float* x, int64_t n, float shift) {
  const __m256 hi = _mm256_set1_ps(88.72283935546875f), lo = _mm256_set1_ps(-87.33654022216797f);
  const __m256 big = _mm256_set1_ps(12582912.0f), log2e = _mm256_set1_ps(1.44269504088896341f);
  const __m256 c1 = _mm256_set1_ps(0.693359375f), c2 = _mm256_set1_ps(-2.12194440e-4f);
  const __m256 one = _mm256_set1_ps(1.0f), inf = _mm256_set1_ps(kInf);
  const __m256 vshift = _mm256_set1_ps(shift);
  const __m256 k[6] = {_mm256_set1_ps(1.9875691500e-4f), _mm256_set1_ps(1.3981999507e-3f),
                       _mm256_set1_ps(8.3334519073e-3f), _mm256_set1_ps(4.1665795894e-2f),
                       _mm256_set1_ps(1.6666665459e-1f), _mm256_set1_ps(5.0000001201e-1f)};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_sub_ps(_mm256_loadu_ps(x + j), vshift);
    // Clamp with blends (min/max would differ from exp_f on NaN, restored below anyway).
    __m256 xc = _mm256_blendv_ps(v, hi, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
    xc = _mm256_blendv_ps(xc, lo, _mm256_cmp_ps(xc, lo, _CMP_LT_OQ));
    const __m256 nn = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(xc, log2e), big), big);
    __m256 r = _mm256_sub_ps(xc, _mm256_mul_ps(nn, c1));
    r = _mm256_sub_ps(r, _mm256_mul_ps(nn, c2));
    __m256 p = k[0];
    for (int q = 1; q < 6; q++) p = _mm256_add_ps(_mm256_mul_ps(p, r), k[q]);
    p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), one);
    const __m256i bits = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvttps_epi32(nn), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(v, lo, _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, inf, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
    y = _mm256_blendv_ps(y, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    _mm256_storeu_ps(x + j, y);
  }
  exp_scalar(x + j, n - j, shift);
}

// The same reduction and polynomial with fused multiply-adds (9 instead of 18 multiplies and
// adds) and min/max clamps: not exp_f's bits, within its accuracy.
__attribute__((target("avx2,fma"))) inline __m256 exp8_fma(__m256 v) {
  const __m256 hi = _mm256_set1_ps(88.72283935546875f), lo = _mm256_set1_ps(-87.33654022216797f);
  const __m256 big = _mm256_set1_ps(12582912.0f), log2e = _mm256_set1_ps(1.44269504088896341f);
  const __m256 c1 = _mm256_set1_ps(-0.693359375f), c2 = _mm256_set1_ps(2.12194440e-4f);
  const __m256 one = _mm256_set1_ps(1.0f), inf = _mm256_set1_ps(kInf);
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(v, lo), hi);  // NaN becomes hi, restored below
  const __m256 nn = _mm256_sub_ps(_mm256_fmadd_ps(xc, log2e, big), big);
  const __m256 r = _mm256_fmadd_ps(nn, c2, _mm256_fmadd_ps(nn, c1, xc));
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), one);
  const __m256i bits = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvttps_epi32(nn), _mm256_set1_epi32(127)), 23);
  __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(v, lo, _CMP_LT_OQ));
  y = _mm256_blendv_ps(y, inf, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
  return _mm256_blendv_ps(y, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

__attribute__((target("avx2,fma"))) void exp_fma(float* x, int64_t n, float shift) {
  const __m256 vshift = _mm256_set1_ps(shift);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm256_storeu_ps(x + j, exp8_fma(_mm256_sub_ps(_mm256_loadu_ps(x + j), vshift)));
  exp_scalar(x + j, n - j, shift);
}

/** s = 1 / (1 + exp(-x)) in one pass. */
__attribute__((target("avx2,fma"))) void sigmoid_fma(const float* x, int64_t n, float* s) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp8_fma(_mm256_sub_ps(zero, _mm256_loadu_ps(x + j)));
    _mm256_storeu_ps(s + j, _mm256_div_ps(one, _mm256_add_ps(one, e)));
  }
  for (; j < n; j++) s[j] = 1.0f / (1.0f + exp_f(-x[j]));
}
#endif

using ExpFn = void (*)(float*, int64_t, float);

ExpFn pick(bool fused) {
#if ATTNKIT_HAVE_AVX2_EXP
  __builtin_cpu_init();
  if (fused && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return exp_fma;
  if (__builtin_cpu_supports("avx2")) return exp_avx2;
#endif
  (void)fused;
  return exp_scalar;
}

}  // namespace

void exp_row_shifted(float* x, int64_t n, float shift) {
  static const ExpFn fn = pick(false);
  fn(x, n, shift);
}

void exp_row_shifted_fast(float* x, int64_t n, float shift) {
  static const ExpFn fn = pick(true);
  fn(x, n, shift);
}

void sigmoid_row_fast(const float* x, int64_t n, float* s) {
#if ATTNKIT_HAVE_AVX2_EXP
  static const bool fma = pick(true) == exp_fma;
  if (fma) return sigmoid_fma(x, n, s);
#endif
  for (int64_t j = 0; j < n; j++) s[j] = -x[j];
  exp_row_shifted(s, n, 0.0f);
  for (int64_t j = 0; j < n; j++) s[j] = 1.0f / (1.0f + s[j]);
}

}  // namespace attnkit
