// Argument unpacking for the N-API entry points. Every check throws a JavaScript error
// (TypeError / RangeError) instead of touching memory it was not given.
#pragma once
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstdint>
#include <string>

namespace attnkit {

/** Thrown inside an entry point; turned into a pending JavaScript exception at its boundary. */
struct ArgError {
  bool range;
  std::string message;
};

struct Args {
  napi_env env;
  size_t count = 24;
  napi_value argv[24];
  const char* fn;

  Args(napi_env e, napi_callback_info info, const char* name, size_t wanted) : env(e), fn(name) {
    napi_get_cb_info(env, info, &count, argv, nullptr, nullptr);
    if (count < wanted) {
      throw ArgError{false, std::string(fn) + ": expected " + std::to_string(wanted) +
                                " arguments, got " + std::to_string(count)};
    }
  }

  [[noreturn]] void fail(size_t i, const std::string& what, bool range = false) const {
    throw ArgError{range, std::string(fn) + ": argument " + std::to_string(i) + " " + what};
  }

  template <typename T>
  T* typed(size_t i, napi_typedarray_type want, size_t* length) const {
    bool is = false;
    napi_is_typedarray(env, argv[i], &is);
    if (!is) fail(i, "must be a typed array");
    napi_typedarray_type type;
    void* data = nullptr;
    napi_value buffer;
    size_t offset;
    napi_get_typedarray_info(env, argv[i], &type, length, &data, &buffer, &offset);
    if (type != want) fail(i, want == napi_float32_array ? "must be a Float32Array"
                                                          : "must be an Int32Array");
    return static_cast<T*>(data);
  }

  float* f32(size_t i, size_t* length) const {
    return typed<float>(i, napi_float32_array, length);
  }
  int32_t* i32(size_t i, size_t* length) const {
    return typed<int32_t>(i, napi_int32_array, length);
  }

  bool is_null(size_t i) const {
    napi_valuetype t;
    napi_typeof(env, argv[i], &t);
    return t == napi_null || t == napi_undefined;
  }

  double number(size_t i) const {
    double v;
    if (napi_get_value_double(env, argv[i], &v) != napi_ok) fail(i, "must be a number");
    return v;
  }

  int64_t integer(size_t i, int64_t min = 0, int64_t max = INT64_C(1) << 40) const {
    double v = number(i);
    if (!(v >= static_cast<double>(min) && v <= static_cast<double>(max)) ||
        v != static_cast<double>(static_cast<int64_t>(v))) {
      fail(i, "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                  "], got " + std::to_string(v),
           true);
    }
    return static_cast<int64_t>(v);
  }

  bool boolean(size_t i) const {
    bool v;
    if (napi_get_value_bool(env, argv[i], &v) != napi_ok) fail(i, "must be a boolean");
    return v;
  }

  /** Throws unless the typed array at i holds at least `needed` elements. */
  void need(size_t i, size_t have, double needed) const {
    if (static_cast<double>(have) < needed) {
      fail(i, "holds " + std::to_string(have) + " elements, needs " +
                  std::to_string(static_cast<int64_t>(needed)),
           true);
    }
  }
};

/** Wraps an entry point body so C++ argument errors become JavaScript exceptions. */
template <typename F>
napi_value guarded(napi_env env, F&& body) {
  try {
    return body();
  } catch (const ArgError& e) {
    if (e.range) {
      napi_throw_range_error(env, nullptr, e.message.c_str());
    } else {
      napi_throw_type_error(env, nullptr, e.message.c_str());
    }
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

inline napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

inline napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

}  // namespace attnkit
