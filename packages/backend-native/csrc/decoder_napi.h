// The N-API entry of the fused decoding step (decoder_napi.cc).
#pragma once
#include "napi_util.h"

namespace attnkit {

napi_value DecoderStep(napi_env env, napi_callback_info info);

}  // namespace attnkit
