// Elementwise kernels: binary ops with NumPy broadcasting, unary ops, softmax, reductions and
// strided copies (transpose, slice, tile, concat), all float32 except the copies.
#pragma once
#include <cstdint>

namespace attnkit {

enum BinaryOp { kAdd = 0, kSub, kMul, kDiv, kMax, kMin, kSquaredDiff, kBinaryOpCount };
enum UnaryOp {
  kExp = 0, kLog, kNeg, kSqrt, kRsqrt, kSquare, kSigmoid, kTanh, kRelu, kAbs, kReciprocal,
  kSoftplus, kUnaryOpCount
};
enum ReduceOp { kSum = 0, kMean, kMaxR, kMinR, kReduceOpCount };

/** out[idx] = op(a[idx·aStrides], b[idx·bStrides]) over `shape` (rank ≤ 8, strides 0 = broadcast). */
void binary(int op, const float* a, const float* b, float* out, int rank, const int64_t* shape,
            const int64_t* aStrides, const int64_t* bStrides);

/** The same for int32 Add, Sub (wrapping), Max and Min; false (nothing done) for other ops. */
bool binary_i32(int op, const int32_t* a, const int32_t* b, int32_t* out, int rank,
                const int64_t* shape, const int64_t* aStrides, const int64_t* bStrides);

void unary(int op, const float* x, float* out, int64_t n);

/** Softmax over the last axis of a [rows, cols] array. */
void softmax(const float* x, float* out, int64_t rows, int64_t cols);

/** out[o, i] = reduce over r of x[o, r, i]. */
void reduce(int op, const float* x, float* out, int64_t outer, int64_t r, int64_t inner);

/** Decoupled-weight-decay Adam step (Loshchilov & Hutter 2019, Alg. 2), in place of p, m, v. */
struct AdamWParams {
  // As float32 scalars from JavaScript: 1 - beta and the bias corrections c = 1 - beta^t are
  // rounded once there, exactly as the composite's scalar tensors are.
  float lr, beta1, oneMinusBeta1, beta2, oneMinusBeta2, epsilon, weightDecay, c1, c2;
  float gradScale;  // g · gradScale first (a global-norm clip); 1 leaves g as it is
};
void adamw(const float* p, const float* m, const float* v, const float* g, float* pOut, float* mOut,
           float* vOut, int64_t n, const AdamWParams& a);

/** Σ x² in double, over fixed chunks summed in order (the same result on any thread count). */
double sum_of_squares(const float* x, int64_t n);

/** dst[dstOffset + idx·dstStrides] = src[srcOffset + idx·srcStrides] over `shape` (rank ≤ 12). */
void copy_strided(const void* src, void* dst, int elementBytes, int rank, const int64_t* shape,
                  const int64_t* srcStrides, const int64_t* dstStrides);

}  // namespace attnkit
