// NEON micro-kernel (AArch64, where NEON is always present): an 8×8 tile of C in 16 q
// registers; per k, two loads of B and two loads of A feed 16 lane-indexed FMAs.
#include "gemm.h"

#if defined(__aarch64__)
#include <arm_neon.h>

namespace attnkit {
namespace {

constexpr int MR = 8;
constexpr int NR = 8;

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  float32x4_t acc[MR][2];
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.f);
  for (int64_t k = 0; k < kc; k++) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
    acc[0][0] = vfmaq_laneq_f32(acc[0][0], b0, a0, 0);
    acc[0][1] = vfmaq_laneq_f32(acc[0][1], b1, a0, 0);
    acc[1][0] = vfmaq_laneq_f32(acc[1][0], b0, a0, 1);
    acc[1][1] = vfmaq_laneq_f32(acc[1][1], b1, a0, 1);
    acc[2][0] = vfmaq_laneq_f32(acc[2][0], b0, a0, 2);
    acc[2][1] = vfmaq_laneq_f32(acc[2][1], b1, a0, 2);
    acc[3][0] = vfmaq_laneq_f32(acc[3][0], b0, a0, 3);
    acc[3][1] = vfmaq_laneq_f32(acc[3][1], b1, a0, 3);
    acc[4][0] = vfmaq_laneq_f32(acc[4][0], b0, a1, 0);
    acc[4][1] = vfmaq_laneq_f32(acc[4][1], b1, a1, 0);
    acc[5][0] = vfmaq_laneq_f32(acc[5][0], b0, a1, 1);
    acc[5][1] = vfmaq_laneq_f32(acc[5][1], b1, a1, 1);
    acc[6][0] = vfmaq_laneq_f32(acc[6][0], b0, a1, 2);
    acc[6][1] = vfmaq_laneq_f32(acc[6][1], b1, a1, 2);
    acc[7][0] = vfmaq_laneq_f32(acc[7][0], b0, a1, 3);
    acc[7][1] = vfmaq_laneq_f32(acc[7][1], b1, a1, 3);
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; i++) {
    float* row = c + i * ldc;
    if (accumulate) {
      vst1q_f32(row, vaddq_f32(vld1q_f32(row), acc[i][0]));
      vst1q_f32(row + 4, vaddq_f32(vld1q_f32(row + 4), acc[i][1]));
    } else {
      vst1q_f32(row, acc[i][0]);
      vst1q_f32(row + 4, acc[i][1]);
    }
  }
}

}  // namespace

KernelInfo gemm_kernel_neon() { return {MR, NR, kernel, "neon 8x8"}; }

}  // namespace attnkit

#else

namespace attnkit {
KernelInfo gemm_kernel_neon() { return {8, 8, nullptr, "neon 8x8"}; }
}  // namespace attnkit

#endif
