// Eight floats as one value, for register-blocked loops: GCC and Clang keep an array of
// float sums in memory across a loop (a load and a store per step), but keep vector values in
// registers. Inside an ATTNKIT_CLONES function these compile to AVX2 (+FMA when contraction is
// on); elsewhere to pairs of SSE registers. Other compilers get a plain struct. (binding.gyp
// passes -Wno-psabi: GCC notes that such values pass differently without AVX, but these
// helpers are always inlined, never called across an ABI boundary.)
#pragma once
#include <cstring>

#if defined(__GNUC__) || defined(__clang__)
// A helper of a clone must be inlined into it to get the clone's instructions.
#define ATTNKIT_INLINE inline __attribute__((always_inline))
#else
#define ATTNKIT_INLINE inline
#endif

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(ATTNKIT_NO_CLONES)
// Register-blocked tiles also get an AVX-512 clone: 32 vector registers instead of 16 let a
// tile keep twice the sums (still 8-float vectors: the width GCC prefers there).
#define ATTNKIT_WIDE_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define ATTNKIT_HAVE_WIDE_CLONES 1
#else
#define ATTNKIT_WIDE_CLONES
#endif

namespace attnkit {

/** Whether the AVX-512 clones run (32 vector registers: tiles may be twice as tall). */
inline bool wide_registers() {
#if ATTNKIT_HAVE_WIDE_CLONES
  static const bool wide = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  }();
  return wide;
#else
  return false;
#endif
}

#if defined(__GNUC__) || defined(__clang__)
typedef float f32x8 __attribute__((vector_size(32)));

/** Zeros (a scalar times a vector broadcasts the scalar: no splat needed). */
inline f32x8 zero8() { return f32x8{}; }
#else
struct f32x8 {
  float v[8];
  f32x8& operator+=(const f32x8& o) {
    for (int i = 0; i < 8; i++) v[i] += o.v[i];
    return *this;
  }
  friend f32x8 operator*(float a, const f32x8& b) {
    f32x8 r;
    for (int i = 0; i < 8; i++) r.v[i] = a * b.v[i];
    return r;
  }
  friend f32x8 operator*(const f32x8& a, const f32x8& b) {
    f32x8 r;
    for (int i = 0; i < 8; i++) r.v[i] = a.v[i] * b.v[i];
    return r;
  }
  friend f32x8 operator+(const f32x8& a, const f32x8& b) {
    f32x8 r;
    for (int i = 0; i < 8; i++) r.v[i] = a.v[i] + b.v[i];
    return r;
  }
};

inline f32x8 zero8() { return f32x8{}; }
#endif

/** Unaligned load and store (memcpy compiles to one move). */
inline f32x8 load8(const float* p) {
  f32x8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline void store8(float* p, const f32x8& v) { std::memcpy(p, &v, sizeof(v)); }

}  // namespace attnkit
