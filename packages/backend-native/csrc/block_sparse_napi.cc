// N-API entries of block-sparse attention. Every size is checked against the dims, and every
// index of the block list against the keys, before any work starts: a wrong call throws a
// JavaScript error instead of reading out of bounds.
#include "block_sparse_napi.h"

#include <cmath>
#include <string>

#include "block_sparse.h"

namespace attnkit {
namespace {

/**
 * dims [batch, heads, kvHeads, tq, tk, d, dv, blockSize, kPerBlock, queryOffset, causal] and
 * the scale number at i + 1.
 */
BlockSparseShape block_sparse_shape(const Args& args, size_t i) {
  size_t n;
  const int32_t* d = args.i32(i, &n);
  if (n != 11) args.fail(i, "must hold 11 values", true);
  for (size_t j = 0; j < 11; j++)
    if (d[j] < 0) args.fail(i, "must not hold negative values", true);
  BlockSparseShape s{};
  s.batch = d[0];
  s.heads = d[1];
  s.kv_heads = d[2];
  s.tq = d[3];
  s.tk = d[4];
  s.d = d[5];
  s.dv = d[6];
  s.block = d[7];
  s.k_per_block = d[8];
  s.query_offset = d[9];
  if (d[10] > 1) args.fail(i, "causal must be 0 or 1", true);
  s.causal = d[10] != 0;
  if (s.kv_heads < 1 || s.heads % s.kv_heads != 0)
    args.fail(i, "heads must be a multiple of kvHeads >= 1", true);
  if (s.tq < 1 || s.tk < 1) args.fail(i, "tq and tk must be >= 1", true);
  if (s.block < 1 || s.k_per_block < 1) args.fail(i, "blockSize and kPerBlock must be >= 1", true);
  const double scale = args.number(i + 1);
  if (!(scale > 0 && std::isfinite(scale))) args.fail(i + 1, "scale must be finite and > 0", true);
  s.scale = static_cast<float>(scale);
  s.first_block = s.query_offset / s.block;
  s.num_query_blocks = (s.query_offset + s.tq - 1) / s.block - s.first_block + 1;
  s.num_key_blocks = (s.tk + s.block - 1) / s.block;
  return s;
}

struct Sizes {
  double q, k, v, sel, out, lse;
};

Sizes sizes_of(const BlockSparseShape& s) {
  const double bh = static_cast<double>(s.batch) * s.heads;
  const double bkv = static_cast<double>(s.batch) * s.kv_heads;
  return {bh * s.tq * s.d,  bkv * s.tk * s.d, bkv * s.tk * s.dv,
          bh * s.num_query_blocks * s.k_per_block, bh * s.tq * s.dv, bh * s.tq};
}

/** An index outside -1..numKeyBlocks-1 is an error, never a read. */
void check_selected(const Args& args, size_t i, const BlockSparseShape& s, const int32_t* sel,
                    size_t n) {
  for (size_t j = 0; j < n; j++) {
    if (sel[j] < -1 || sel[j] >= s.num_key_blocks) {
      args.fail(i,
                "holds key block " + std::to_string(sel[j]) + " at flat index " +
                    std::to_string(j) + "; valid: -1..." + std::to_string(s.num_key_blocks - 1),
                true);
    }
  }
}

}  // namespace

// blockSparseForward(q, k, v, selected, out, lse, dims, scale)
napi_value BlockSparseForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "blockSparseForward", 8);
    size_t n[6];
    const float* q = args.f32(0, &n[0]);
    const float* k = args.f32(1, &n[1]);
    const float* v = args.f32(2, &n[2]);
    const int32_t* sel = args.i32(3, &n[3]);
    float* out = args.f32(4, &n[4]);
    float* lse = args.f32(5, &n[5]);
    const BlockSparseShape s = block_sparse_shape(args, 6);
    const Sizes z = sizes_of(s);
    const double want[6] = {z.q, z.k, z.v, z.sel, z.out, z.lse};
    for (size_t i = 0; i < 6; i++) args.need(i, n[i], want[i]);
    check_selected(args, 3, s, sel, static_cast<size_t>(z.sel));
    if (s.batch * s.heads > 0) block_sparse_forward(s, q, k, v, sel, out, lse);
    return undefined(env);
  });
}

// blockSparseBackward(q, k, v, selected, out, lse, dout, dlse, dq, dk, dv, dims, scale)
napi_value BlockSparseBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "blockSparseBackward", 13);
    size_t n[11];
    const float* q = args.f32(0, &n[0]);
    const float* k = args.f32(1, &n[1]);
    const float* v = args.f32(2, &n[2]);
    const int32_t* sel = args.i32(3, &n[3]);
    const float* in[4];
    for (size_t i = 0; i < 4; i++) in[i] = args.f32(4 + i, &n[4 + i]);
    float* grads[3];
    for (size_t i = 0; i < 3; i++) grads[i] = args.f32(8 + i, &n[8 + i]);
    const BlockSparseShape s = block_sparse_shape(args, 11);
    const Sizes z = sizes_of(s);
    const double want[11] = {z.q, z.k, z.v, z.sel, z.out, z.lse, z.out, z.lse, z.q, z.k, z.v};
    for (size_t i = 0; i < 11; i++) args.need(i, n[i], want[i]);
    check_selected(args, 3, s, sel, static_cast<size_t>(z.sel));
    if (s.batch * s.heads > 0)
      block_sparse_backward(s, q, k, v, sel, in[0], in[1], in[2], in[3], grads[0], grads[1],
                            grads[2]);
    return undefined(env);
  });
}

}  // namespace attnkit
