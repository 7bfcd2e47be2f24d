// N-API entries of the linear kernels. Every array is checked to hold what the dims say the
// kernel will touch before any work starts, so a wrong call throws instead of reading out of
// bounds; shapes and attributes are checked against the contract in JavaScript first.
#include "linear_napi.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "gated_recurrence.h"
#include "linear_attention.h"
#include "linear_scan.h"
#include "selective_scan.h"

namespace attnkit {
namespace {

/** dims [batch, heads, t, dk, dv, chunk, causal, normalize] and the scale and eps numbers. */
LinearShape linear_shape(const Args& args, size_t i) {
  size_t n;
  const int32_t* d = args.i32(i, &n);
  if (n != 8) args.fail(i, "must hold 8 values", true);
  for (size_t j = 0; j < 8; j++)
    if (d[j] < 0) args.fail(i, "must not hold negative values", true);
  if (d[5] < 1) args.fail(i, "chunk size must be >= 1", true);
  if (d[6] > 1 || d[7] > 1) args.fail(i, "causal and normalize must be 0 or 1", true);
  const double scale = args.number(i + 1), eps = args.number(i + 2);
  if (!std::isfinite(scale)) args.fail(i + 1, "scale must be finite", true);
  if (!(eps >= 0 && std::isfinite(eps))) args.fail(i + 2, "eps must be finite and >= 0", true);
  return LinearShape{d[0], d[1], d[2], d[3], d[4], d[5], static_cast<float>(scale),
                     static_cast<float>(eps), d[6] != 0, d[7] != 0};
}

/** Sizes of q/k, v, g, kv, z for a shape. */
struct LinearSizes {
  double qk, v, g, kv, z;
};

LinearSizes sizes_of(const LinearShape& s) {
  const double bh = static_cast<double>(s.batch) * s.heads;
  return {bh * s.t * s.dk, bh * s.t * s.dv, bh * s.t, bh * s.dk * s.dv, bh * s.dk};
}

bool all_zero(const float* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != 0.f) return false;
  return true;
}

/** The bidirectional form has no decay and no initial state to read. */
void check_bidirectional(const Args& args, const LinearShape& s, const LinearSizes& z,
                         const float* g, const float* kv0, const float* z0) {
  if (s.causal) return;
  if (!all_zero(g, static_cast<size_t>(z.g)))
    args.fail(3, "must be zeros without causal (no decay in the bidirectional form)", true);
  if (!all_zero(kv0, static_cast<size_t>(z.kv)) || !all_zero(z0, static_cast<size_t>(z.z)))
    args.fail(4, "must be zeros without causal (no initial state in the bidirectional form)",
              true);
}

}  // namespace

// linearAttentionForward(q, k, v, g, kv0, z0, out, kv, z, dims, scale, eps)
napi_value LinearAttentionForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "linearAttentionForward", 12);
    size_t n[9];
    const float* in[6];
    for (size_t i = 0; i < 6; i++) in[i] = args.f32(i, &n[i]);
    float* out = args.f32(6, &n[6]);
    float* kv = args.f32(7, &n[7]);
    float* z = args.f32(8, &n[8]);
    const LinearShape s = linear_shape(args, 9);
    const LinearSizes z_ = sizes_of(s);
    const double want[9] = {z_.qk, z_.qk, z_.v, z_.g, z_.kv, z_.z, z_.v, z_.kv, z_.z};
    for (size_t i = 0; i < 9; i++) args.need(i, n[i], want[i]);
    check_bidirectional(args, s, z_, in[3], in[4], in[5]);
    if (s.batch * s.heads > 0)
      linear_attention_forward(s, in[0], in[1], in[2], in[3], in[4], in[5], out, kv, z);
    return undefined(env);
  });
}

// linearAttentionBackward(q, k, v, g, kv0, z0, dout, dkv, dz, dq, dk, dv, dg, dkv0, dz0, dims,
// scale, eps)
napi_value LinearAttentionBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "linearAttentionBackward", 18);
    size_t n[15];
    const float* in[9];
    float* out[6];
    for (size_t i = 0; i < 9; i++) in[i] = args.f32(i, &n[i]);
    for (size_t i = 0; i < 6; i++) out[i] = args.f32(9 + i, &n[9 + i]);
    const LinearShape s = linear_shape(args, 15);
    const LinearSizes z_ = sizes_of(s);
    const double want[15] = {z_.qk, z_.qk, z_.v,  z_.g, z_.kv, z_.z,  z_.v, z_.kv,
                             z_.z,  z_.qk, z_.qk, z_.v, z_.g,  z_.kv, z_.z};
    for (size_t i = 0; i < 15; i++) args.need(i, n[i], want[i]);
    check_bidirectional(args, s, z_, in[3], in[4], in[5]);
    if (s.batch * s.heads > 0)
      linear_attention_backward(s, in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8],
                                out[0], out[1], out[2], out[3], out[4], out[5]);
    return undefined(env);
  });
}

/** dims [batch, t, channels]. */
void scan_dims(const Args& args, size_t i, int64_t* batch, int64_t* t, int64_t* channels) {
  size_t n;
  const int32_t* d = args.i32(i, &n);
  if (n != 3) args.fail(i, "must hold 3 values", true);
  if (d[0] < 0 || d[1] < 0 || d[2] < 0) args.fail(i, "must not hold negative values", true);
  *batch = d[0];
  *t = d[1];
  *channels = d[2];
}

// linearScanForward(a, b, h0, h, last, dims)
napi_value LinearScanForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "linearScanForward", 6);
    size_t n[5];
    const float* a = args.f32(0, &n[0]);
    const float* b = args.f32(1, &n[1]);
    const float* h0 = args.f32(2, &n[2]);
    float* h = args.f32(3, &n[3]);
    float* last = args.f32(4, &n[4]);
    int64_t batch, t, channels;
    scan_dims(args, 5, &batch, &t, &channels);
    const double seq = static_cast<double>(batch) * t * channels;
    const double state = static_cast<double>(batch) * channels;
    const double want[5] = {seq, seq, state, seq, state};
    for (size_t i = 0; i < 5; i++) args.need(i, n[i], want[i]);
    if (batch * channels > 0) linear_scan_forward(batch, t, channels, a, b, h0, h, last);
    return undefined(env);
  });
}

// linearScanBackward(a, h0, h, dh, dlast, da, db, dh0, dims)
napi_value LinearScanBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "linearScanBackward", 9);
    size_t n[8];
    const float* in[5];
    float* out[3];
    for (size_t i = 0; i < 5; i++) in[i] = args.f32(i, &n[i]);
    for (size_t i = 0; i < 3; i++) out[i] = args.f32(5 + i, &n[5 + i]);
    int64_t batch, t, channels;
    scan_dims(args, 8, &batch, &t, &channels);
    const double seq = static_cast<double>(batch) * t * channels;
    const double state = static_cast<double>(batch) * channels;
    const double want[8] = {seq, state, seq, seq, state, seq, seq, state};
    for (size_t i = 0; i < 8; i++) args.need(i, n[i], want[i]);
    if (batch * channels > 0)
      linear_scan_backward(batch, t, channels, in[0], in[1], in[2], in[3], in[4], out[0], out[1],
                           out[2]);
    return undefined(env);
  });
}

/** dims [batch, t, channels E, state N]; sizes of u/delta, A, B/C, D, h0. */
ScanShape scan_shape(const Args& args, size_t i) {
  size_t n;
  const int32_t* d = args.i32(i, &n);
  if (n != 4) args.fail(i, "must hold 4 values", true);
  for (size_t j = 0; j < 4; j++)
    if (d[j] < 0) args.fail(i, "must not hold negative values", true);
  return ScanShape{d[0], d[1], d[2], d[3]};
}

void selective_sizes(const ScanShape& s, double* want) {
  const double bt = static_cast<double>(s.batch) * s.t;
  // u, delta, A, B, C, D, h0
  want[0] = bt * s.channels;
  want[1] = bt * s.channels;
  want[2] = static_cast<double>(s.channels) * s.state;
  want[3] = bt * s.state;
  want[4] = bt * s.state;
  want[5] = static_cast<double>(s.channels);
  want[6] = static_cast<double>(s.batch) * s.channels * s.state;
}

// selectiveScanForward(u, delta, A, B, C, D, h0, y, last, dims)
napi_value SelectiveScanForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "selectiveScanForward", 10);
    size_t n[9];
    const float* in[7];
    for (size_t i = 0; i < 7; i++) in[i] = args.f32(i, &n[i]);
    float* y = args.f32(7, &n[7]);
    float* last = args.f32(8, &n[8]);
    const ScanShape s = scan_shape(args, 9);
    double want[9];
    selective_sizes(s, want);
    want[7] = want[0];
    want[8] = want[6];
    for (size_t i = 0; i < 9; i++) args.need(i, n[i], want[i]);
    if (s.batch * s.channels > 0)
      selective_scan_forward(s, in[0], in[1], in[2], in[3], in[4], in[5], in[6], y, last);
    return undefined(env);
  });
}

// selectiveScanBackward(u, delta, A, B, C, D, h0, dy, dlast, du, ddelta, dA, dB, dC, dD, dh0,
// dims)
napi_value SelectiveScanBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "selectiveScanBackward", 17);
    size_t n[16];
    const float* in[9];
    float* out[7];
    for (size_t i = 0; i < 9; i++) in[i] = args.f32(i, &n[i]);
    for (size_t i = 0; i < 7; i++) out[i] = args.f32(9 + i, &n[9 + i]);
    const ScanShape s = scan_shape(args, 16);
    double want[16];
    selective_sizes(s, want);
    want[7] = want[0];  // dy
    want[8] = want[6];  // dlast
    for (size_t i = 0; i < 7; i++) want[9 + i] = want[i];
    for (size_t i = 0; i < 16; i++) args.need(i, n[i], want[i]);
    if (s.batch * s.channels > 0) {
      selective_scan_backward(s, in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8],
                              out[0], out[1], out[2], out[3], out[4], out[5], out[6]);
    } else {
      // No channel to scan: the gradients of A, B, C and D are sums over nothing.
      for (size_t i = 0; i < 7; i++) std::fill(out[i], out[i] + n[9 + i], 0.f);
    }
    return undefined(env);
  });
}

/** dims [bh, t, dk, dv, gates, delta] and the scale. */
RecurrenceShape recurrence_shape(const Args& args, size_t i) {
  size_t n;
  const int32_t* d = args.i32(i, &n);
  if (n != 6) args.fail(i, "must hold 6 values", true);
  for (size_t j = 0; j < 6; j++)
    if (d[j] < 0) args.fail(i, "must not hold negative values", true);
  if (d[4] != 1 && d[4] != d[2]) args.fail(i, "gates must be 1 or dk", true);
  if (d[5] > 1) args.fail(i, "delta must be 0 or 1", true);
  const double scale = args.number(i + 1);
  if (!std::isfinite(scale)) args.fail(i + 1, "scale must be finite", true);
  return RecurrenceShape{d[0], d[1], d[2], d[3], d[4], static_cast<float>(scale), d[5] != 0};
}

/** Sizes of q, k, v, beta, g, s0 for a shape. */
void recurrence_sizes(const RecurrenceShape& s, double* want) {
  const double bht = static_cast<double>(s.bh) * s.t;
  want[0] = bht * s.dk;
  want[1] = bht * s.dk;
  want[2] = bht * s.dv;
  want[3] = bht;
  want[4] = bht * s.gates;
  want[5] = static_cast<double>(s.bh) * s.dk * s.dv;
}

// gatedRecurrenceForward(q, k, v, beta, g, s0, out, state, dims, scale)
napi_value GatedRecurrenceForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "gatedRecurrenceForward", 10);
    size_t n[8];
    const float* in[6];
    for (size_t i = 0; i < 6; i++) in[i] = args.f32(i, &n[i]);
    float* out = args.f32(6, &n[6]);
    float* state = args.f32(7, &n[7]);
    const RecurrenceShape s = recurrence_shape(args, 8);
    double want[8];
    recurrence_sizes(s, want);
    want[6] = want[2];
    want[7] = want[5];
    for (size_t i = 0; i < 8; i++) args.need(i, n[i], want[i]);
    if (s.bh > 0) gated_recurrence_forward(s, in[0], in[1], in[2], in[3], in[4], in[5], out, state);
    return undefined(env);
  });
}

// gatedRecurrenceBackward(q, k, v, beta, g, s0, dout, dstate, dq, dk, dv, dbeta, dg, ds0, dims,
// scale)
napi_value GatedRecurrenceBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "gatedRecurrenceBackward", 16);
    size_t n[14];
    const float* in[8];
    float* out[6];
    for (size_t i = 0; i < 8; i++) in[i] = args.f32(i, &n[i]);
    for (size_t i = 0; i < 6; i++) out[i] = args.f32(8 + i, &n[8 + i]);
    const RecurrenceShape s = recurrence_shape(args, 14);
    double want[14];
    recurrence_sizes(s, want);
    want[6] = want[2];  // dout
    want[7] = want[5];  // dstate
    for (size_t i = 0; i < 6; i++) want[8 + i] = want[i];
    for (size_t i = 0; i < 14; i++) args.need(i, n[i], want[i]);
    if (s.bh > 0)
      gated_recurrence_backward(s, in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], out[0],
                                out[1], out[2], out[3], out[4], out[5]);
    return undefined(env);
  });
}

}  // namespace attnkit
