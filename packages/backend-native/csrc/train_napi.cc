#include "train_napi.h"

#include <cstring>

#include "cross_entropy.h"
#include "glu.h"
#include "norm.h"
#include "rotary.h"

namespace attnkit {
namespace {

/**
 * The typed arrays at the front of an entry's arguments, one letter each in `layout`:
 * 'A' Float32Array of rows·d, 'W' Float32Array of d, 'R' Float32Array of rows, 'I' Int32Array of
 * rows, 'N' Float32Array of count (the gated activations), 'F' Float32Array whose length its
 * entry checks itself.
 */
struct Arrays {
  static constexpr size_t kMax = 8;
  void* data[kMax];
  size_t length[kMax];
  float* f(size_t i) const { return static_cast<float*>(data[i]); }
  const int32_t* i32(size_t i) const { return static_cast<const int32_t*>(data[i]); }
};

/** Checks each array's type in argument order (before any scalar, as every entry always did). */
Arrays typed_arrays(const Args& args, const char* layout) {
  Arrays a;
  for (size_t i = 0; layout[i] != '\0'; i++) {
    a.data[i] = layout[i] == 'I' ? static_cast<void*>(args.i32(i, &a.length[i]))
                                 : static_cast<void*>(args.f32(i, &a.length[i]));
  }
  return a;
}

/** Throws unless every array holds what its letter asks for (see Arrays). */
void check_lengths(const Args& args, const char* layout, const Arrays& a, int64_t rows,
                   int64_t d) {
  for (size_t i = 0; layout[i] != '\0'; i++) {
    const char c = layout[i];
    const double want = c == 'A'   ? static_cast<double>(rows) * d
                        : c == 'W' ? static_cast<double>(d)
                                   : static_cast<double>(rows);
    args.need(i, a.length[i], want);
  }
}

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

/** A row kernel's checked arguments: its arrays, rows, width and trailing scalar. */
template <typename Scalar>
struct RowCall {
  Arrays a;
  int64_t rows, d;
  Scalar scalar;
};

/** (arrays per `layout`, dims [rows, d], scalar read by `read_scalar`): the row kernels. */
template <typename Scalar, typename ReadScalar>
RowCall<Scalar> row_call(napi_env env, napi_callback_info info, const char* fn,
                         const char* layout, ReadScalar read_scalar) {
  const size_t k = std::strlen(layout);
  Args args(env, info, fn, k + 2);
  RowCall<Scalar> c;
  c.a = typed_arrays(args, layout);
  row_dims(args, k, &c.rows, &c.d);
  c.scalar = read_scalar(args, k + 1);
  check_lengths(args, layout, c.a, c.rows, c.d);
  return c;
}

/** The norms: eps >= 0 last. */
RowCall<float> norm_call(napi_env env, napi_callback_info info, const char* fn,
                         const char* layout) {
  return row_call<float>(env, info, fn, layout, finite_eps);
}

/** Softmax cross-entropy: dims [rows, vocab], ignoreIndex (int32) last. */
RowCall<int64_t> cross_entropy_call(napi_env env, napi_callback_info info, const char* fn,
                                    const char* layout) {
  return row_call<int64_t>(env, info, fn, layout, [](const Args& args, size_t i) {
    return args.integer(i, INT32_MIN, INT32_MAX);
  });
}

/** (arrays per `layout` ('N' each), count, activation 0..3): the gated activations. */
struct GluCall {
  Arrays a;
  int64_t count;
  int act;
};

GluCall glu_call(napi_env env, napi_callback_info info, const char* fn, const char* layout) {
  const size_t k = std::strlen(layout);
  Args args(env, info, fn, k + 2);
  GluCall c;
  c.a = typed_arrays(args, layout);
  c.count = args.integer(k, 0, INT32_MAX);
  c.act = static_cast<int>(args.integer(k + 1, 0, 3));
  check_lengths(args, layout, c.a, c.count, 1);
  return c;
}

}  // namespace

// rmsNormForward(x, w, y, dims, eps)
napi_value RmsNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const auto c = norm_call(env, info, "rmsNormForward", "AWA");
    rms_norm_forward(c.rows, c.d, c.a.f(0), c.a.f(1), c.scalar, c.a.f(2));
    return undefined(env);
  });
}

// rmsNormBackward(x, w, dy, dx, dw, dims, eps)
napi_value RmsNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const auto c = norm_call(env, info, "rmsNormBackward", "AWAAW");
    rms_norm_backward(c.rows, c.d, c.a.f(0), c.a.f(1), c.a.f(2), c.scalar, c.a.f(3), c.a.f(4));
    return undefined(env);
  });
}

// layerNormForward(x, w, b, y, dims, eps)
napi_value LayerNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const auto c = norm_call(env, info, "layerNormForward", "AWWA");
    layer_norm_forward(c.rows, c.d, c.a.f(0), c.a.f(1), c.a.f(2), c.scalar, c.a.f(3));
    return undefined(env);
  });
}

// layerNormBackward(x, w, dy, dx, dw, db, dims, eps)
napi_value LayerNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const auto c = norm_call(env, info, "layerNormBackward", "AWAAWW");
    layer_norm_backward(c.rows, c.d, c.a.f(0), c.a.f(1), c.a.f(2), c.scalar, c.a.f(3), c.a.f(4),
                        c.a.f(5));
    return undefined(env);
  });
}

// addRmsNormForward(x, residual, w, sum, y, dims, eps)
napi_value AddRmsNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const auto c = norm_call(env, info, "addRmsNormForward", "AAWAA");
    rms_norm_forward(c.rows, c.d, c.a.f(0), c.a.f(2), c.scalar, c.a.f(4), c.a.f(1), c.a.f(3));
    return undefined(env);
  });
}

// addRmsNormBackward(sum, w, dy, dsum, dx, dw, dims, eps)
napi_value AddRmsNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const auto c = norm_call(env, info, "addRmsNormBackward", "AWAAAW");
    rms_norm_backward(c.rows, c.d, c.a.f(0), c.a.f(1), c.a.f(2), c.scalar, c.a.f(4), c.a.f(5),
                      c.a.f(3));
    return undefined(env);
  });
}

// addLayerNormForward(x, residual, w, b, sum, y, dims, eps)
napi_value AddLayerNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const auto c = norm_call(env, info, "addLayerNormForward", "AAWWAA");
    layer_norm_forward(c.rows, c.d, c.a.f(0), c.a.f(2), c.a.f(3), c.scalar, c.a.f(5), c.a.f(1),
                       c.a.f(4));
    return undefined(env);
  });
}

// addLayerNormBackward(sum, w, dy, dsum, dx, dw, db, dims, eps)
napi_value AddLayerNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const auto c = norm_call(env, info, "addLayerNormBackward", "AWAAAWW");
    layer_norm_backward(c.rows, c.d, c.a.f(0), c.a.f(1), c.a.f(2), c.scalar, c.a.f(4), c.a.f(5),
                        c.a.f(6), c.a.f(3));
    return undefined(env);
  });
}

// crossEntropyForward(logits, labels, loss, lse, dims, ignoreIndex)
napi_value CrossEntropyForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const auto c = cross_entropy_call(env, info, "crossEntropyForward", "AIRR");
    cross_entropy_forward(c.rows, c.d, c.a.f(0), c.a.i32(1), c.scalar, c.a.f(2), c.a.f(3));
    return undefined(env);
  });
}

// crossEntropyBackward(logits, labels, dloss, dlse, dlogits, dims, ignoreIndex)
napi_value CrossEntropyBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const auto c = cross_entropy_call(env, info, "crossEntropyBackward", "AIRRA");
    cross_entropy_backward(c.rows, c.d, c.a.f(0), c.a.i32(1), c.scalar, c.a.f(2), c.a.f(3),
                           c.a.f(4));
    return undefined(env);
  });
}

// rotaryApply(x, positions, freq, y, dims [bh, t, d, half, interleaved] or
//             [batch, t, d, half, interleaved, heads, move], sign): sign ±1.
// The only entry of its signature, so it unpacks its own arguments.
napi_value RotaryApply(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "rotaryApply", 6);
    const Arrays a = typed_arrays(args, "FFFF");
    size_t nd;
    const int32_t* dims = args.i32(4, &nd);
    if (nd != 5 && nd != 7) args.fail(4, "must hold 5 or 7 values", true);
    const int64_t bh = dims[0], t = dims[1], d = dims[2], half = dims[3];
    if (bh < 0 || t < 0 || d < 1 || half < 0 || 2 * half > d || (dims[4] != 0 && dims[4] != 1))
      args.fail(4, "must hold bh, t >= 0, d >= 1, 0 <= 2·half <= d and a 0/1 layout", true);
    // 7 values: bh is the batch, then heads and a move (1 split, 2 merge; see rotary_heads).
    const int64_t heads = nd == 7 ? dims[5] : 1;
    if (nd == 7 && (heads < 1 || (dims[6] != 1 && dims[6] != 2)))
      args.fail(4, "must hold heads >= 1 and a move 1 or 2", true);
    const double sign = args.number(5);
    if (sign != 1.0 && sign != -1.0) args.fail(5, "must be 1 or -1", true);
    const double all = static_cast<double>(bh) * heads * t * d;
    const double want[4] = {all, static_cast<double>(t), static_cast<double>(half), all};
    for (size_t i = 0; i < 4; i++) args.need(i, a.length[i], want[i]);
    if (nd == 7) {
      const HeadsMove move = dims[6] == 1 ? HeadsMove::Split : HeadsMove::Merge;
      rotary_heads(bh, heads, t, d, half, dims[4] == 1, move, a.f(0), a.f(1), a.f(2),
                   static_cast<float>(sign), a.f(3));
    } else {
      rotary_apply(bh, t, d, half, dims[4] == 1, a.f(0), a.f(1), a.f(2), static_cast<float>(sign),
                   a.f(3));
    }
    return undefined(env);
  });
}

// gluForward(gate, up, y, n, activation)
napi_value GluForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const GluCall c = glu_call(env, info, "gluForward", "NNN");
    glu_forward(c.count, c.act, c.a.f(0), c.a.f(1), c.a.f(2));
    return undefined(env);
  });
}

// gluBackward(gate, up, dy, dgate, dup, n, activation)
napi_value GluBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const GluCall c = glu_call(env, info, "gluBackward", "NNNNN");
    glu_backward(c.count, c.act, c.a.f(0), c.a.f(1), c.a.f(2), c.a.f(3), c.a.f(4));
    return undefined(env);
  });
}

}  // namespace attnkit
