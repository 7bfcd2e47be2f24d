// N-API entries of the block-sparse attention kernels (block_sparse_napi.cc).
#pragma once
#include "napi_util.h"

namespace attnkit {

napi_value BlockSparseForward(napi_env env, napi_callback_info info);
napi_value BlockSparseBackward(napi_env env, napi_callback_info info);

}  // namespace attnkit
