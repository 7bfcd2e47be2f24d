#include "train_napi.h"

#include "cross_entropy.h"
#include "glu.h"
#include "norm.h"
#include "rotary.h"

namespace attnkit {
namespace {

/** dims [rows, d] at argument i; d >= 1. */
void row_dims(const Args& args, size_t i, int64_t* rows, int64_t* d) {
  size_t n;
  const int32_t* v = args.i32(i, &n);
  if (n != 2) args.fail(i, "must hold 2 values", true);
  if (v[0] < 0 || v[1] < 1) args.fail(i, "must hold rows >= 0 and a width >= 1", true);
  *rows = v[0];
  *d = v[1];
}

float finite_eps(const Args& args, size_t i) {
  const double v = args.number(i);
  if (!(v >= 0) || v > 3.0e38) args.fail(i, "must be a finite number >= 0", true);
  return static_cast<float>(v);
}

}  // namespace

// rmsNormForward(x, w, y, dims, eps)
napi_value RmsNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "rmsNormForward", 5);
    size_t n[3];
    const float* x = args.f32(0, &n[0]);
    const float* w = args.f32(1, &n[1]);
    float* y = args.f32(2, &n[2]);
    int64_t rows, d;
    row_dims(args, 3, &rows, &d);
    const float eps = finite_eps(args, 4);
    const double all = static_cast<double>(rows) * d;
    const double want[3] = {all, static_cast<double>(d), all};
    for (size_t i = 0; i < 3; i++) args.need(i, n[i], want[i]);
    rms_norm_forward(rows, d, x, w, eps, y);
    return undefined(env);
  });
}

// rmsNormBackward(x, w, dy, dx, dw, dims, eps)
napi_value RmsNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "rmsNormBackward", 7);
    size_t n[5];
    const float* x = args.f32(0, &n[0]);
    const float* w = args.f32(1, &n[1]);
    const float* dy = args.f32(2, &n[2]);
    float* dx = args.f32(3, &n[3]);
    float* dw = args.f32(4, &n[4]);
    int64_t rows, d;
    row_dims(args, 5, &rows, &d);
    const float eps = finite_eps(args, 6);
    const double all = static_cast<double>(rows) * d, dd = static_cast<double>(d);
    const double want[5] = {all, dd, all, all, dd};
    for (size_t i = 0; i < 5; i++) args.need(i, n[i], want[i]);
    rms_norm_backward(rows, d, x, w, dy, eps, dx, dw);
    return undefined(env);
  });
}

// layerNormForward(x, w, b, y, dims, eps)
napi_value LayerNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "layerNormForward", 6);
    size_t n[4];
    const float* x = args.f32(0, &n[0]);
    const float* w = args.f32(1, &n[1]);
    const float* b = args.f32(2, &n[2]);
    float* y = args.f32(3, &n[3]);
    int64_t rows, d;
    row_dims(args, 4, &rows, &d);
    const float eps = finite_eps(args, 5);
    const double all = static_cast<double>(rows) * d, dd = static_cast<double>(d);
    const double want[4] = {all, dd, dd, all};
    for (size_t i = 0; i < 4; i++) args.need(i, n[i], want[i]);
    layer_norm_forward(rows, d, x, w, b, eps, y);
    return undefined(env);
  });
}

// layerNormBackward(x, w, dy, dx, dw, db, dims, eps)
napi_value LayerNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "layerNormBackward", 8);
    size_t n[6];
    const float* x = args.f32(0, &n[0]);
    const float* w = args.f32(1, &n[1]);
    const float* dy = args.f32(2, &n[2]);
    float* dx = args.f32(3, &n[3]);
    float* dw = args.f32(4, &n[4]);
    float* db = args.f32(5, &n[5]);
    int64_t rows, d;
    row_dims(args, 6, &rows, &d);
    const float eps = finite_eps(args, 7);
    const double all = static_cast<double>(rows) * d, dd = static_cast<double>(d);
    const double want[6] = {all, dd, all, all, dd, dd};
    for (size_t i = 0; i < 6; i++) args.need(i, n[i], want[i]);
    layer_norm_backward(rows, d, x, w, dy, eps, dx, dw, db);
    return undefined(env);
  });
}

// crossEntropyForward(logits, labels, loss, lse, dims, ignoreIndex)
napi_value CrossEntropyForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "crossEntropyForward", 6);
    size_t n[4];
    const float* logits = args.f32(0, &n[0]);
    const int32_t* labels = args.i32(1, &n[1]);
    float* loss = args.f32(2, &n[2]);
    float* lse = args.f32(3, &n[3]);
    int64_t rows, vocab;
    row_dims(args, 4, &rows, &vocab);
    const int64_t ignore = args.integer(5, INT32_MIN, INT32_MAX);
    const double r = static_cast<double>(rows);
    const double want[4] = {r * vocab, r, r, r};
    for (size_t i = 0; i < 4; i++) args.need(i, n[i], want[i]);
    cross_entropy_forward(rows, vocab, logits, labels, ignore, loss, lse);
    return undefined(env);
  });
}

// crossEntropyBackward(logits, labels, dloss, dlse, dlogits, dims, ignoreIndex)
napi_value CrossEntropyBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "crossEntropyBackward", 7);
    size_t n[5];
    const float* logits = args.f32(0, &n[0]);
    const int32_t* labels = args.i32(1, &n[1]);
    const float* dloss = args.f32(2, &n[2]);
    const float* dlse = args.f32(3, &n[3]);
    float* dlogits = args.f32(4, &n[4]);
    int64_t rows, vocab;
    row_dims(args, 5, &rows, &vocab);
    const int64_t ignore = args.integer(6, INT32_MIN, INT32_MAX);
    const double r = static_cast<double>(rows);
    const double want[5] = {r * vocab, r, r, r, r * vocab};
    for (size_t i = 0; i < 5; i++) args.need(i, n[i], want[i]);
    cross_entropy_backward(rows, vocab, logits, labels, ignore, dloss, dlse, dlogits);
    return undefined(env);
  });
}

// rotaryApply(x, positions, freq, y, dims [bh, t, d, half, interleaved], sign): sign ±1.
napi_value RotaryApply(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "rotaryApply", 6);
    size_t n[4], nd;
    const float* x = args.f32(0, &n[0]);
    const float* positions = args.f32(1, &n[1]);
    const float* freq = args.f32(2, &n[2]);
    float* y = args.f32(3, &n[3]);
    const int32_t* dims = args.i32(4, &nd);
    if (nd != 5) args.fail(4, "must hold 5 values", true);
    const int64_t bh = dims[0], t = dims[1], d = dims[2], half = dims[3];
    if (bh < 0 || t < 0 || d < 1 || half < 0 || 2 * half > d || (dims[4] != 0 && dims[4] != 1))
      args.fail(4, "must hold bh, t >= 0, d >= 1, 0 <= 2·half <= d and a 0/1 layout", true);
    const double sign = args.number(5);
    if (sign != 1.0 && sign != -1.0) args.fail(5, "must be 1 or -1", true);
    const double all = static_cast<double>(bh) * t * d;
    const double want[4] = {all, static_cast<double>(t), static_cast<double>(half), all};
    for (size_t i = 0; i < 4; i++) args.need(i, n[i], want[i]);
    rotary_apply(bh, t, d, half, dims[4] == 1, x, positions, freq, static_cast<float>(sign), y);
    return undefined(env);
  });
}

// gluForward(gate, up, y, n, activation)
napi_value GluForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "gluForward", 5);
    size_t n[3];
    const float* gate = args.f32(0, &n[0]);
    const float* up = args.f32(1, &n[1]);
    float* y = args.f32(2, &n[2]);
    const int64_t count = args.integer(3, 0, INT32_MAX);
    const int act = static_cast<int>(args.integer(4, 0, 3));
    for (size_t i = 0; i < 3; i++) args.need(i, n[i], static_cast<double>(count));
    glu_forward(count, act, gate, up, y);
    return undefined(env);
  });
}

// gluBackward(gate, up, dy, dgate, dup, n, activation)
napi_value GluBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "gluBackward", 7);
    size_t n[5];
    const float* gate = args.f32(0, &n[0]);
    const float* up = args.f32(1, &n[1]);
    const float* dy = args.f32(2, &n[2]);
    float* dgate = args.f32(3, &n[3]);
    float* dup = args.f32(4, &n[4]);
    const int64_t count = args.integer(5, 0, INT32_MAX);
    const int act = static_cast<int>(args.integer(6, 0, 3));
    for (size_t i = 0; i < 5; i++) args.need(i, n[i], static_cast<double>(count));
    glu_backward(count, act, gate, up, dy, dgate, dup);
    return undefined(env);
  });
}

}  // namespace attnkit
