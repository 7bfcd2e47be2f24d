// Single-precision GEMM, C = op(A) · op(B), blocked and packed in the manner of Goto & van de
// Geijn, "Anatomy of high-performance matrix multiplication" (2008): B is packed in KC×NC
// blocks of NR-wide panels, A in MC×KC blocks of MR-high panels, and a register-blocked
// micro-kernel (picked at run time for the CPU: AVX-512, AVX2+FMA, NEON or portable C++)
// computes each MR×NR tile of C.
#pragma once
#include <cstdint>

namespace attnkit {

/** One matrix operand: element (i, j) is at data[i * rs + j * cs]. */
struct Operand {
  const float* data;
  int64_t rs;
  int64_t cs;
};

/**
 * For each b in [0, batch): C_b[M,N] = A_b[M,K] · B_b[K,N], with A_b = a + aOffsets[b] (and
 * likewise B, C = c + b·M·N, row-major). Offsets may be null for batch 1 or evenly strided
 * batches (then aStride/bStride are used). Runs on the thread pool when the work is large.
 */
void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, Operand a, int64_t aStride,
                  const int64_t* aOffsets, Operand b, int64_t bStride, const int64_t* bOffsets,
                  float* c);

/** One product C[M,N] = A[M,K] · B[K,N] of gemm_pair. */
struct Product {
  int64_t M, N, K;
  Operand a, b;
  float* c;
};

/**
 * Two independent products (a dense layer's dx and dW): side by side, one per thread, when
 * both are too small to split well; one after the other, each on the pool, otherwise.
 */
void gemm_pair(const Product& first, const Product& second);

/** Σ a[i] · b[i] over n contiguous floats (vector partial sums added in a fixed order). */
float dot_f32(const float* a, const float* b, int64_t n);

/** Name of the micro-kernel picked for this CPU, e.g. "avx512 14x32". */
const char* gemm_kernel_name();

/** Micro-kernel signature: C[MR,NR] (leading dimension ldc) = or += packed A · packed B. */
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                             bool accumulate);

struct KernelInfo {
  int mr;
  int nr;
  MicroKernel fn;
  const char* name;
};

// Defined in gemm_kernel_*.cc; a kernel that the build or the CPU lacks has fn == nullptr.
KernelInfo gemm_kernel_avx512();
KernelInfo gemm_kernel_avx2();
KernelInfo gemm_kernel_neon();
KernelInfo gemm_kernel_generic();

}  // namespace attnkit
