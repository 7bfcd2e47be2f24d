// Block-sparse attention over a list of key blocks per query block (block_sparse.cc).
#pragma once
#include <cstdint>

namespace attnkit {

/** Sizes and attributes, checked by the N-API entry (block_sparse_napi.cc) before any work. */
struct BlockSparseShape {
  int64_t batch, heads, kv_heads, tq, tk, d, dv, block, k_per_block, query_offset;
  bool causal;
  float scale;
  int64_t first_block;       // absolute block of the first query
  int64_t num_query_blocks;  // the third axis of `selected`
  int64_t num_key_blocks;    // ⌈tk / block⌉: valid indices are -1 and 0..num_key_blocks-1
};

/** out [b,h,tq,dv], lse [b,h,tq] (-inf and a zero row where no key is visible). */
void block_sparse_forward(const BlockSparseShape& s, const float* q, const float* k,
                          const float* v, const int32_t* selected, float* out, float* lse);

/** dq, dk, dv from the forward's out and lse and the cotangents of out and lse. */
void block_sparse_backward(const BlockSparseShape& s, const float* q, const float* k,
                           const float* v, const int32_t* selected, const float* out,
                           const float* lse, const float* dout, const float* dlse, float* dq,
                           float* dk, float* dv);

}  // namespace attnkit
