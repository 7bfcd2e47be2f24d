// N-API entries of the fused training kernels: norms, softmax cross-entropy, rotary embedding
// and gated activations (train_napi.cc).
#pragma once
#include "napi_util.h"

namespace attnkit {

napi_value RmsNormForward(napi_env env, napi_callback_info info);
napi_value RmsNormBackward(napi_env env, napi_callback_info info);
napi_value LayerNormForward(napi_env env, napi_callback_info info);
napi_value LayerNormBackward(napi_env env, napi_callback_info info);
napi_value AddRmsNormForward(napi_env env, napi_callback_info info);
napi_value AddRmsNormBackward(napi_env env, napi_callback_info info);
napi_value AddLayerNormForward(napi_env env, napi_callback_info info);
napi_value AddLayerNormBackward(napi_env env, napi_callback_info info);
napi_value CrossEntropyForward(napi_env env, napi_callback_info info);
napi_value CrossEntropyBackward(napi_env env, napi_callback_info info);
napi_value RotaryApply(napi_env env, napi_callback_info info);
napi_value GluForward(napi_env env, napi_callback_info info);
napi_value GluBackward(napi_env env, napi_callback_info info);

}  // namespace attnkit
