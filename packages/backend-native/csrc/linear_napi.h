// N-API entries of the chunked linear attention, gated recurrence, linear scan and selective scan
// kernels
// (linear_napi.cc).
#pragma once
#include "napi_util.h"

namespace attnkit {

napi_value LinearAttentionForward(napi_env env, napi_callback_info info);
napi_value LinearAttentionBackward(napi_env env, napi_callback_info info);
napi_value LinearScanForward(napi_env env, napi_callback_info info);
napi_value LinearScanBackward(napi_env env, napi_callback_info info);
napi_value SelectiveScanForward(napi_env env, napi_callback_info info);
napi_value SelectiveScanBackward(napi_env env, napi_callback_info info);
napi_value GatedRecurrenceForward(napi_env env, napi_callback_info info);
napi_value GatedRecurrenceBackward(napi_env env, napi_callback_info info);

}  // namespace attnkit
