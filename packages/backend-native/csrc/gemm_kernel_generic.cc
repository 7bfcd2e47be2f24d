// Portable micro-kernel: plain loops over a 4×16 tile that compilers vectorise for the
// baseline SIMD of the target (SSE2 on x86-64).
#include "gemm.h"

namespace attnkit {
namespace {

constexpr int MR = 4;
constexpr int NR = 16;

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; k++) {
    for (int i = 0; i < MR; i++) {
      const float ai = a[k * MR + i];
      for (int j = 0; j < NR; j++) acc[i][j] += ai * b[k * NR + j];
    }
  }
  for (int i = 0; i < MR; i++) {
    float* row = c + i * ldc;
    if (accumulate) {
      for (int j = 0; j < NR; j++) row[j] += acc[i][j];
    } else {
      for (int j = 0; j < NR; j++) row[j] = acc[i][j];
    }
  }
}

}  // namespace

KernelInfo gemm_kernel_generic() { return {MR, NR, kernel, "portable 4x16"}; }

}  // namespace attnkit
