// N-API entry points. Each checks its arguments (types, sizes, that every index it will touch
// lies inside the arrays it was given) and throws a JavaScript error otherwise, so a wrong call
// can never crash the process. Shapes are checked against tfjs' rules in JavaScript first.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "attention.h"
#include "block_sparse_napi.h"
#include "depthwise.h"
#include "decoder_napi.h"
#include "elementwise.h"
#include "gemm.h"
#include "linear_napi.h"
#include "napi_util.h"
#include "rows.h"
#include "threadpool.h"
#include "topk.h"
#include "scatter.h"
#include "train_napi.h"

namespace attnkit {
namespace {

/** Reads an Int32Array of `rank` dims (or strides) into int64s. */
std::vector<int64_t> dims(const Args& args, size_t i, size_t rank, bool nonNegative) {
  size_t n;
  const int32_t* p = args.i32(i, &n);
  if (n != rank) args.fail(i, "must hold " + std::to_string(rank) + " values", true);
  std::vector<int64_t> out(p, p + n);
  if (nonNegative) {
    for (int64_t v : out)
      if (v < 0) args.fail(i, "must not hold negative values", true);
  }
  return out;
}

/** The largest index reached by shape/strides from `offset` (-1 when the shape is empty). */
double last_index(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                  double offset) {
  double top = offset;
  for (size_t d = 0; d < shape.size(); d++) {
    if (shape[d] == 0) return -1;
    top += static_cast<double>(shape[d] - 1) * std::max<double>(0, strides[d]);
  }
  return top;
}

/** The smallest index reached (below `offset` only through negative strides). */
double first_index(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                   double offset) {
  double low = offset;
  for (size_t d = 0; d < shape.size(); d++)
    low += static_cast<double>(shape[d] - 1) * std::min<double>(0, strides[d]);
  return low;
}

// matmul(a, b, out, batch, M, N, K, transA, transB, aOffsets, bOffsets)
napi_value MatMul(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "matmul", 11);
    size_t na, nb, nc, noa, nob;
    const float* a = args.f32(0, &na);
    const float* b = args.f32(1, &nb);
    float* c = args.f32(2, &nc);
    const int64_t batch = args.integer(3, 0), M = args.integer(4, 0), N = args.integer(5, 0),
                  K = args.integer(6, 0);
    const bool ta = args.boolean(7), tb = args.boolean(8);
    const int32_t* ao = args.i32(9, &noa);
    const int32_t* bo = args.i32(10, &nob);
    if (noa < static_cast<size_t>(batch)) args.fail(9, "needs one offset per batch", true);
    if (nob < static_cast<size_t>(batch)) args.fail(10, "needs one offset per batch", true);
    args.need(2, nc, static_cast<double>(batch) * M * N);
    std::vector<int64_t> aOff(batch), bOff(batch);
    for (int64_t i = 0; i < batch; i++) {
      aOff[i] = ao[i];
      bOff[i] = bo[i];
      if (M * K > 0 && (ao[i] < 0 || static_cast<double>(ao[i]) + M * K > na))
        args.fail(9, "offset " + std::to_string(ao[i]) + " reads past the end of a", true);
      if (K * N > 0 && (bo[i] < 0 || static_cast<double>(bo[i]) + K * N > nb))
        args.fail(10, "offset " + std::to_string(bo[i]) + " reads past the end of b", true);
    }
    // A is [M,K] or, transposed, stored [K,M]; likewise B.
    Operand opA{a, ta ? 1 : K, ta ? M : 1};
    Operand opB{b, tb ? 1 : N, tb ? K : 1};
    gemm_batched(batch, M, N, K, opA, 0, aOff.data(), opB, 0, bOff.data(), c);
    return undefined(env);
  });
}

// denseBackward(x, w, dy, dx, dw, [rows, in, out]): dx = dy · Wᵀ and dW = xᵀ · dy.
napi_value DenseBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "denseBackward", 6);
    size_t n[5], nd;
    const float* x = args.f32(0, &n[0]);
    const float* w = args.f32(1, &n[1]);
    const float* dy = args.f32(2, &n[2]);
    float* dx = args.f32(3, &n[3]);
    float* dw = args.f32(4, &n[4]);
    const int32_t* dims = args.i32(5, &nd);
    if (nd != 3 || dims[0] < 0 || dims[1] < 1 || dims[2] < 1)
      args.fail(5, "must hold rows >= 0, in >= 1, out >= 1", true);
    const int64_t rows = dims[0], in = dims[1], out = dims[2];
    const double want[5] = {static_cast<double>(rows) * in, static_cast<double>(in) * out,
                            static_cast<double>(rows) * out, static_cast<double>(rows) * in,
                            static_cast<double>(in) * out};
    for (int i = 0; i < 5; i++) args.need(i, n[i], want[i]);
    // W [in, out] read as Wᵀ; x [rows, in] read as xᵀ.
    const Product gx{rows, in, out, Operand{dy, out, 1}, Operand{w, 1, out}, dx};
    const Product gw{in, out, rows, Operand{x, 1, in}, Operand{dy, out, 1}, dw};
    gemm_pair(gx, gw);
    return undefined(env);
  });
}

/** A broadcast's shape and operand strides (arguments 4-6), checked against the arrays' sizes. */
struct Broadcast {
  std::vector<int64_t> shape, sa, sb;
};

Broadcast broadcast_of(const Args& args, size_t na, size_t nb, size_t no) {
  size_t rank;
  args.i32(4, &rank);
  if (rank > 8) args.fail(4, "rank above 8", true);
  Broadcast r{dims(args, 4, rank, true), dims(args, 5, rank, true), dims(args, 6, rank, true)};
  double total = 1;
  for (auto s : r.shape) total *= s;
  args.need(3, no, total);
  if (total > 0) {
    args.need(1, na, last_index(r.shape, r.sa, 0) + 1);
    args.need(2, nb, last_index(r.shape, r.sb, 0) + 1);
  }
  return r;
}

// binary(op, a, b, out, shape, aStrides, bStrides)
napi_value Binary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "binary", 7);
    const int op = static_cast<int>(args.integer(0, 0, kBinaryOpCount - 1));
    size_t na, nb, no;
    const float* a = args.f32(1, &na);
    const float* b = args.f32(2, &nb);
    float* out = args.f32(3, &no);
    const Broadcast g = broadcast_of(args, na, nb, no);
    binary(op, a, b, out, static_cast<int>(g.shape.size()), g.shape.data(), g.sa.data(),
           g.sb.data());
    return undefined(env);
  });
}

// binaryI32(op, a, b, out, shape, aStrides, bStrides) -> false for an op without an int32 form
napi_value BinaryI32(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "binaryI32", 7);
    const int op = static_cast<int>(args.integer(0, 0, kBinaryOpCount - 1));
    size_t na, nb, no, rank;
    const int32_t* a = args.i32(1, &na);
    const int32_t* b = args.i32(2, &nb);
    int32_t* out = args.i32(3, &no);
    args.i32(4, &rank);
    if (rank == 0) args.fail(4, "rank must be 1..8", true);
    const Broadcast g = broadcast_of(args, na, nb, no);
    const bool ok = binary_i32(op, a, b, out, static_cast<int>(rank), g.shape.data(),
                               g.sa.data(), g.sb.data());
    return boolean(env, ok);
  });
}

// unary(op, x, out)
napi_value Unary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "unary", 3);
    const int op = static_cast<int>(args.integer(0, 0, kUnaryOpCount - 1));
    size_t nx, no;
    const float* x = args.f32(1, &nx);
    float* out = args.f32(2, &no);
    args.need(2, no, static_cast<double>(nx));
    unary(op, x, out, static_cast<int64_t>(nx));
    return undefined(env);
  });
}

// softmax(x, out, rows, cols)
napi_value Softmax(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "softmax", 4);
    size_t nx, no;
    const float* x = args.f32(0, &nx);
    float* out = args.f32(1, &no);
    const int64_t rows = args.integer(2), cols = args.integer(3);
    args.need(0, nx, static_cast<double>(rows) * cols);
    args.need(1, no, static_cast<double>(rows) * cols);
    if (cols > 0) softmax(x, out, rows, cols);
    return undefined(env);
  });
}

// depthwiseConv(x, filter, out, batch, height, width, channels, fh, fw)
napi_value DepthwiseConv(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "depthwiseConv", 9);
    size_t nx, nf, no;
    const float* x = args.f32(0, &nx);
    const float* filter = args.f32(1, &nf);
    float* out = args.f32(2, &no);
    const int64_t batch = args.integer(3), height = args.integer(4), width = args.integer(5);
    const int64_t channels = args.integer(6), fh = args.integer(7, 1), fw = args.integer(8, 1);
    if (fh > height || fw > width) args.fail(7, "the filter must fit in the input", true);
    args.need(0, nx, static_cast<double>(batch) * height * width * channels);
    args.need(1, nf, static_cast<double>(fh) * fw * channels);
    args.need(2, no, static_cast<double>(batch) * (height - fh + 1) * (width - fw + 1) * channels);
    if (channels > 0) depthwise_forward(batch, height, width, channels, fh, fw, x, filter, out);
    return undefined(env);
  });
}

// topK(x, values, indices, rows, n, k) -> false when x holds a non-finite value
napi_value TopK(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "topK", 6);
    size_t nx, nv, ni;
    const float* x = args.f32(0, &nx);
    float* values = args.f32(1, &nv);
    int32_t* indices = args.i32(2, &ni);
    const int64_t rows = args.integer(3), n = args.integer(4), k = args.integer(5);
    if (k > n) args.fail(5, "k must be at most the row length", true);
    args.need(0, nx, static_cast<double>(rows) * n);
    args.need(1, nv, static_cast<double>(rows) * k);
    args.need(2, ni, static_cast<double>(rows) * k);
    bool ok = true;
    if (rows > 0 && k > 0) ok = top_k(x, rows, n, k, values, indices);
    return boolean(env, ok);
  });
}

// scatterAdd(indices, updates, out, numUpdates, sliceRank, sliceSize, strides, slices) -> -1, or
// the first update whose index falls outside
napi_value ScatterAdd(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "scatterAdd", 8);
    size_t ni, nu, no, ns;
    const int32_t* indices = args.i32(0, &ni);
    const float* updates = args.f32(1, &nu);
    float* out = args.f32(2, &no);
    const int64_t numUpdates = args.integer(3), sliceRank = args.integer(4, 1, 64);
    const int64_t sliceSize = args.integer(5);
    const int32_t* strides = args.i32(6, &ns);
    const int64_t slices = args.integer(7);
    if (static_cast<int64_t>(ns) != sliceRank) args.fail(6, "must hold sliceRank values", true);
    args.need(0, ni, static_cast<double>(numUpdates) * sliceRank);
    args.need(1, nu, static_cast<double>(numUpdates) * sliceSize);
    args.need(2, no, static_cast<double>(slices) * sliceSize);
    const int64_t bad =
        scatter_add(indices, updates, out, numUpdates, sliceRank, sliceSize, strides, slices);
    napi_value result;
    napi_create_double(env, static_cast<double>(bad), &result);
    return result;
  });
}

// reduce(op, x, out, outer, r, inner)
napi_value Reduce(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "reduce", 6);
    const int op = static_cast<int>(args.integer(0, 0, kReduceOpCount - 1));
    size_t nx, no;
    const float* x = args.f32(1, &nx);
    float* out = args.f32(2, &no);
    const int64_t outer = args.integer(3), r = args.integer(4, 1), inner = args.integer(5);
    args.need(1, nx, static_cast<double>(outer) * r * inner);
    args.need(2, no, static_cast<double>(outer) * inner);
    reduce(op, x, out, outer, r, inner);
    return undefined(env);
  });
}

size_t element_bytes(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    default:
      return 0;
  }
}

/** A typed array of 1- or 4-byte elements at argument i: its data, length and element size. */
void* small_elements(const Args& args, size_t i, size_t* length, size_t* bytes) {
  bool is = false;
  napi_is_typedarray(args.env, args.argv[i], &is);
  if (!is) args.fail(i, "must be a typed array");
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void* data;
  napi_get_typedarray_info(args.env, args.argv[i], &type, length, &data, &buffer, &offset);
  *bytes = element_bytes(type);
  if (*bytes == 0) args.fail(i, "must hold 1- or 4-byte elements");
  return data;
}

// copy(src, dst, shape, srcStrides, dstStrides, srcOffset, dstOffset)
napi_value Copy(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "copy", 7);
    void* data[2];
    size_t len[2], bytes[2];
    for (int i = 0; i < 2; i++) data[i] = small_elements(args, i, &len[i], &bytes[i]);
    if (bytes[0] != bytes[1]) args.fail(1, "must have the element size of the source");
    size_t rank;
    args.i32(2, &rank);
    if (rank == 0 || rank > 12) args.fail(2, "rank must be 1..12", true);
    auto shape = dims(args, 2, rank, true);
    // Source strides may be negative (Reverse reads an axis backwards from its far end).
    auto ss = dims(args, 3, rank, false);
    auto ds = dims(args, 4, rank, true);
    const int64_t so = args.integer(5), doff = args.integer(6);
    const double srcTop = last_index(shape, ss, so), dstTop = last_index(shape, ds, doff);
    if (srcTop >= 0) {
      if (first_index(shape, ss, so) < 0) args.fail(5, "the strides read before the array", true);
      args.need(0, len[0], srcTop + 1);
      args.need(1, len[1], dstTop + 1);
      const int eb = static_cast<int>(bytes[0]);
      copy_strided(static_cast<char*>(data[0]) + so * eb, static_cast<char*>(data[1]) + doff * eb,
                   eb, static_cast<int>(rank), shape.data(), ss.data(), ds.data());
    }
    return undefined(env);
  });
}

// gatherSlices(x, indices, out, outer, dim, slice): out[o, i, :] = x[o, indices[i], :] for
// typed arrays of 4- or 1-byte elements (the indices checked in JavaScript, again here)
napi_value GatherSlices(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "gatherSlices", 6);
    void* data[2];
    size_t len[2], bytes[2];
    data[0] = small_elements(args, 0, &len[0], &bytes[0]);
    data[1] = small_elements(args, 2, &len[1], &bytes[1]);
    if (bytes[0] != bytes[1]) args.fail(2, "must have the element size of x");
    size_t ni;
    const int32_t* idx = args.i32(1, &ni);
    const int64_t outer = args.integer(3), dim = args.integer(4), slice = args.integer(5);
    args.need(0, len[0], static_cast<double>(outer) * dim * slice);
    args.need(2, len[1], static_cast<double>(outer) * ni * slice);
    for (size_t i = 0; i < ni; i++)
      if (idx[i] < 0 || idx[i] >= dim) args.fail(1, "holds an index outside [0, dim)", true);
    const int64_t n = static_cast<int64_t>(ni), eb = static_cast<int64_t>(bytes[0]);
    const char* x = static_cast<const char*>(data[0]);
    char* out = static_cast<char*>(data[1]);
    for_row_blocks(outer * n, slice, [&](int64_t, int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++) {
        const int64_t o = r / n, i = r % n;
        std::memcpy(out + r * slice * eb, x + ((o * dim + idx[i]) * slice) * eb, slice * eb);
      }
    });
    return undefined(env);
  });
}


/** dims Int32Array: [batch, heads, kvHeads, tq, tk, d, dv, causal, window]. */
AttentionShape attention_shape(const Args& args, size_t i, float scale) {
  auto v = dims(args, i, 9, true);
  AttentionShape s{v[0], v[1], v[2], v[3], v[4], v[5], v[6], scale, v[7] != 0, v[8]};
  if (s.kvHeads == 0 || s.heads % s.kvHeads != 0)
    args.fail(i, "heads must be a multiple of kvHeads", true);
  return s;
}

/** Checks the buffers; qpos may hold tq positions or one list per (batch, head) (sets headPositions). */
void check_attention(const Args& args, AttentionShape& s, const size_t* n) {
  const double packed = static_cast<double>(s.batch) * s.heads * s.tq;
  s.headPositions = static_cast<double>(n[3]) == packed && packed != static_cast<double>(s.tq);
  const double qn = static_cast<double>(s.batch) * s.heads * stored_rows(s);
  const double kn = static_cast<double>(s.batch) * s.kvHeads * s.tk;
  args.need(0, n[0], qn * s.d);
  args.need(1, n[1], kn * s.d);
  args.need(2, n[2], kn * s.dv);
  args.need(3, n[3], static_cast<double>(s.tq));
  args.need(4, n[4], static_cast<double>(s.tk));
  args.need(5, n[5], qn * s.dv);
  args.need(6, n[6], qn);
}

/**
 * Row-mask mode from the optional arguments (rowIndex, fullRows) at i, i + 1: each packed row's
 * row in the full arrays, each in [0, fullRows) or -1, and the rows per head of those arrays.
 */
void row_index(const Args& args, size_t i, AttentionShape& s) {
  if (args.count <= i) return;
  size_t len;
  const int32_t* index = args.i32(i, &len);
  s.fullRows = args.integer(i + 1, 0, INT32_MAX);
  if (s.tq > s.fullRows) args.fail(i + 1, "must be at least the packed rows (dims[3])", true);
  args.need(i, len, static_cast<double>(s.batch) * s.heads * s.tq);
  for (size_t r = 0; r < len; r++)
    if (index[r] < -1 || index[r] >= s.fullRows)
      args.fail(i, "holds a row outside [-1, fullRows)", true);
  s.rowIndex = index;
}

// attentionForward(q, k, v, qpos, kpos, out, lse, dims, scale[, rowIndex, fullRows]); qpos: tq
// or B·H·tq positions; with rowIndex, q, out and lse hold fullRows rows per head (row-mask mode)
napi_value AttentionForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "attentionForward", 9);
    size_t n[7];
    const float* q = args.f32(0, &n[0]);
    const float* k = args.f32(1, &n[1]);
    const float* v = args.f32(2, &n[2]);
    const int32_t* qp = args.i32(3, &n[3]);
    const int32_t* kp = args.i32(4, &n[4]);
    float* out = args.f32(5, &n[5]);
    float* lse = args.f32(6, &n[6]);
    AttentionShape s = attention_shape(args, 7, static_cast<float>(args.number(8)));
    row_index(args, 9, s);
    check_attention(args, s, n);
    if (s.batch * s.heads * s.tq > 0 && s.tk > 0) {
      attention_forward(s, q, k, v, qp, kp, out, lse);
    }
    return undefined(env);
  });
}

// attentionBackward(q, k, v, qpos, kpos, out, lse, dout, dq, dk, dv, dims, scale[, rowIndex,
// fullRows]): rowIndex as attentionForward's; dq is zeroed, then written at the kept rows
napi_value AttentionBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "attentionBackward", 13);
    size_t n[11];
    const float* q = args.f32(0, &n[0]);
    const float* k = args.f32(1, &n[1]);
    const float* v = args.f32(2, &n[2]);
    const int32_t* qp = args.i32(3, &n[3]);
    const int32_t* kp = args.i32(4, &n[4]);
    const float* out = args.f32(5, &n[5]);
    const float* lse = args.f32(6, &n[6]);
    const float* dout = args.f32(7, &n[7]);
    float* dq = args.f32(8, &n[8]);
    float* dk = args.f32(9, &n[9]);
    float* dv = args.f32(10, &n[10]);
    size_t dimsLen;
    args.i32(11, &dimsLen);
    AttentionShape s = attention_shape(args, 11, static_cast<float>(args.number(12)));
    row_index(args, 13, s);
    check_attention(args, s, n);
    const double qn = static_cast<double>(s.batch) * s.heads * stored_rows(s);
    const double kn = static_cast<double>(s.batch) * s.kvHeads * s.tk;
    args.need(7, n[7], qn * s.dv);
    args.need(8, n[8], qn * s.d);
    args.need(9, n[9], kn * s.d);
    args.need(10, n[10], kn * s.dv);
    if (qn > 0 && s.tk > 0) {
      attention_backward(s, q, k, v, qp, kp, out, lse, dout, dq, dk, dv);
    }
    return undefined(env);
  });
}

// adamw(p, m, v, g, pOut, mOut, vOut,
//       [lr, beta1, 1-beta1, beta2, 1-beta2, eps, wd, c1, c2, gradScale])
napi_value AdamW(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "adamw", 8);
    size_t n[7], nh;
    const float* p = args.f32(0, &n[0]);
    const float* m = args.f32(1, &n[1]);
    const float* v = args.f32(2, &n[2]);
    const float* g = args.f32(3, &n[3]);
    float* po = args.f32(4, &n[4]);
    float* mo = args.f32(5, &n[5]);
    float* vo = args.f32(6, &n[6]);
    const float* h = args.f32(7, &nh);
    if (nh != 10) args.fail(7, "must hold 10 values", true);
    for (int i = 1; i < 7; i++) args.need(i, n[i], static_cast<double>(n[0]));
    adamw(p, m, v, g, po, mo, vo, static_cast<int64_t>(n[0]),
          AdamWParams{h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]});
    return undefined(env);
  });
}

// sumOfSquares(x) -> Σ x² (a number, accumulated in double)
napi_value SumOfSquares(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "sumOfSquares", 1);
    size_t n;
    const float* x = args.f32(0, &n);
    napi_value out;
    napi_create_double(env, sum_of_squares(x, static_cast<int64_t>(n)), &out);
    return out;
  });
}

// info() -> { gemm, threads }
napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, gemm, threads;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, gemm_kernel_name(), NAPI_AUTO_LENGTH, &gemm);
  napi_create_int32(env, num_threads(), &threads);
  napi_set_named_property(env, obj, "gemm", gemm);
  napi_set_named_property(env, obj, "threads", threads);
  return obj;
}

// setThreads(n)
napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "setThreads", 1);
    set_num_threads(static_cast<int>(args.integer(0, 1, 256)));
    return undefined(env);
  });
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"matmul", nullptr, MatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"depthwiseConv", nullptr, DepthwiseConv, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"topK", nullptr, TopK, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"scatterAdd", nullptr, ScatterAdd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binaryI32", nullptr, BinaryI32, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gatherSlices", nullptr, GatherSlices, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"reduce", nullptr, Reduce, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"copy", nullptr, Copy, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attentionForward", nullptr, AttentionForward, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"attentionBackward", nullptr, AttentionBackward, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"decoderStep", nullptr, DecoderStep, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"linearAttentionForward", nullptr, LinearAttentionForward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"linearAttentionBackward", nullptr, LinearAttentionBackward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"linearScanForward", nullptr, LinearScanForward, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"linearScanBackward", nullptr, LinearScanBackward, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"selectiveScanForward", nullptr, SelectiveScanForward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"selectiveScanBackward", nullptr, SelectiveScanBackward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"gatedRecurrenceForward", nullptr, GatedRecurrenceForward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"gatedRecurrenceBackward", nullptr, GatedRecurrenceBackward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"blockSparseForward", nullptr, BlockSparseForward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"blockSparseBackward", nullptr, BlockSparseBackward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"rmsNormForward", nullptr, RmsNormForward, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"rmsNormBackward", nullptr, RmsNormBackward, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"layerNormForward", nullptr, LayerNormForward, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"layerNormBackward", nullptr, LayerNormBackward, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"addRmsNormForward", nullptr, AddRmsNormForward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"addRmsNormBackward", nullptr, AddRmsNormBackward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"addLayerNormForward", nullptr, AddLayerNormForward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"addLayerNormBackward", nullptr, AddLayerNormBackward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"crossEntropyForward", nullptr, CrossEntropyForward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"crossEntropyBackward", nullptr, CrossEntropyBackward, nullptr, nullptr, nullptr,
       napi_default, nullptr},
      {"rotaryApply", nullptr, RotaryApply, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gluForward", nullptr, GluForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gluBackward", nullptr, GluBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, AdamW, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"denseBackward", nullptr, DenseBackward, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"sumOfSquares", nullptr, SumOfSquares, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace
}  // namespace attnkit

NAPI_MODULE_INIT() { return attnkit::Init(env, exports); }
